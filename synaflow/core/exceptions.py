"""One exception hierarchy; the class says whose fault it is.

- ``PipelineDefinitionError``: the pipeline as written is wrong (build time).
  Also a ``ValueError`` so that ``except ValueError`` written for 0.32.4 keeps
  working; ``PipelineShapeError`` is additionally a ``TypeError`` for the cases
  where 0.32.4 raised ``TypeError`` (sync/async shape, non-callables).
- ``ContractLoadError``: a JSON contract cannot be turned back into a Dag.
- ``PipelineStopException`` / ``ThresholdExceededException``: user code failed
  at run time under a policy that ends the run (original chained with ``from``).
- ``StallError``: no progress; says what is blocked.
- ``InternalError``: an invariant of SynaFlow itself broke. This is a bug.
"""
from __future__ import annotations

from typing import Any


class SynaflowError(Exception):
    """Base class of every exception SynaFlow defines."""


def _where(pipeline: str | None, step: str | None, param: str | None) -> str:
    parts = []
    if pipeline:
        parts.append(f"Pipeline '{pipeline}'")
    if step:
        parts.append(f"step '{step}'")
    if param:
        parts.append(f"parameter '{param}'")
    return ", ".join(parts)


class PipelineDefinitionError(SynaflowError, ValueError):
    """The pipeline definition is invalid; raised when ``pipeline(...)`` is called.

    The message reads: where -> what is wrong -> how to fix it. The pieces are
    also kept as attributes (``pipeline_name``, ``step_name``, ``param_name``,
    ``fix``) for programmatic use.
    """

    def __init__(self, message: str, *, pipeline: str | None = None,
                 step: str | None = None, param: str | None = None,
                 fix: str | None = None, prefix: bool = True) -> None:
        self.pipeline_name = pipeline
        self.step_name = step
        self.param_name = param
        self.fix = fix
        self.problem = message
        where = _where(pipeline, step, param) if prefix else ""
        text = f"{where}: {message}" if where else message
        if fix:
            text = f"{text}. Fix: {fix}"
        super().__init__(text)


class PipelineShapeError(PipelineDefinitionError, TypeError):
    """A definition problem that 0.32.4 reported as ``TypeError``."""


class ParamsError(SynaflowError, TypeError, ValueError):
    """Params that do not fit the pipeline's params class, found before any step runs:
    ``unknown`` keys, ``missing`` fields (no default), ``problems`` (one line per
    field of the wrong type). A ``TypeError`` and a ``ValueError``, as 0.32.4 raised
    either for bad params."""

    def __init__(self, pipeline: str | None, params: str, *, unknown: list[str],
                 missing: list[str], problems: list[str], fields: list[str],
                 readers: Any = None) -> None:
        self.pipeline, self.params = pipeline, params
        self.unknown, self.missing, self.problems = unknown, missing, problems
        parts = []
        if unknown:
            parts.append(f"Unknown params field(s) for {params}: {unknown} (its fields: "
                         f"{', '.join(fields) or '<none>'})")
        if missing:
            read = "".join(f"; '{f}' is read by step(s) " + ", ".join(map(repr, readers[f]))
                           for f in missing if (readers or {}).get(f))
            parts.append(f"Missing required params field(s) for {params}: {missing}{read}. "
                         "Fix: give them a value, or a default in the params class")
        if problems:
            parts.append(f"invalid params for {params}: " + "; ".join(problems))
        head = f"Pipeline '{pipeline}': " if pipeline else ""
        super().__init__(head + ". ".join(parts))


class UnusedParamsFieldWarning(UserWarning):
    """A params field that no step of the pipeline reads (a build-time warning)."""


class StepTypeError(SynaflowError, TypeError):
    """With ``check_types=True``: a step returned (or yielded) a value that does not fit
    its declared return type. Raised as if by the step, so its ``on_error`` applies."""


class ContractLoadError(SynaflowError, ValueError):
    """A JSON contract could not be loaded back into a Dag."""


class RunnerMismatchError(SynaflowError, RuntimeError):
    """The pipeline needs a different runner than the one it was given to."""


class StallError(SynaflowError, RuntimeError):
    """The run made no progress for longer than the stall timeout."""


class InternalError(SynaflowError, AssertionError):
    """An internal invariant broke. This is a bug in SynaFlow; please report it."""


class StepExecutionError(SynaflowError):
    """Tags an exception with the step it came from (internal transport)."""

    def __init__(self, message: str, step_name: str = "", cause: Exception | None = None) -> None:
        super().__init__(message)
        self.step_name = step_name
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


class PipelineStopException(SynaflowError):
    """A step with ``on_error=STOP`` recorded an error; the run ends."""

    def __init__(self, step_name: str = "", cause: Exception | None = None) -> None:
        self.step_name = step_name
        self.cause = cause
        if step_name and cause is not None:
            text = f"Pipeline stopped at step '{step_name}': {cause}"
        elif step_name:
            text = f"Pipeline stopped at step '{step_name}'"
        elif cause is not None:
            text = f"Pipeline stopped: {cause}"
        else:
            text = "Pipeline stopped"
        super().__init__(text)
        if cause is not None:
            self.__cause__ = cause

    def __reduce__(self):  # keep pickling (Ray) faithful to the constructor
        return (type(self), (self.step_name, self.cause))


class ThresholdExceededException(SynaflowError):
    """An EACH step's failed rows reached its error threshold."""

    def __init__(self, step_name: str, error_count: int, success_count: int,
                 threshold_absolute: int | None = None,
                 threshold_pct: float | None = None) -> None:
        self.step_name = step_name
        self.error_count = error_count
        self.success_count = success_count
        self.threshold_absolute = threshold_absolute
        self.threshold_pct = threshold_pct
        total = error_count + success_count
        pct = (error_count / total * 100.0) if total else 0.0
        text = (f"Step '{step_name}' exceeded error threshold: "
                f"{error_count}/{total} items failed ({pct:.1f}%)")
        if threshold_absolute is not None:
            text += f" [absolute threshold: {threshold_absolute}]"
        if threshold_pct is not None:
            text += f" [pct threshold: {threshold_pct * 100:.1f}%]"
        super().__init__(text)

    def __reduce__(self):
        return (type(self), (self.step_name, self.error_count, self.success_count,
                             self.threshold_absolute, self.threshold_pct))


class InvalidThresholdRaiseInEACHStep(SynaflowError):
    """An EACH row raised ThresholdExceededException itself (counted as a row error)."""

    def __init__(self, step_name: str, original: ThresholdExceededException) -> None:
        super().__init__(
            f"Step '{step_name}' raised ThresholdExceededException inside an EACH row; "
            "thresholds are evaluated by the engine after all rows. "
            "Raise an ordinary exception from the row instead")
        self.step_name = step_name
        self.original_exception = original
        self.__cause__ = original

    def __reduce__(self):
        return (type(self), (self.step_name, self.original_exception))


class FanoutStreamClosedError(SynaflowError, RuntimeError):
    """A fan-out branch was read after the run closed it."""
