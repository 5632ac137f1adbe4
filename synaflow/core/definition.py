"""Pipeline definitions: ``pipeline``, ``step`` and ``include``.

``pipeline(...)`` validates and compiles at once: if it returns, the Dag is valid
(``p.dag``). Definitions are frozen; build a new pipeline to change one.

    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     n: int
    >>> def inc(n: int) -> int:
    ...     return n + 1
    >>> p = pipeline(name="demo", params=P, steps=[step("inc", fn=inc)])
    >>> p.dag.get_execution_levels()
    [['inc']]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .types import OnError, StepMode, StepParams

if TYPE_CHECKING:  # pragma: no cover
    from .dag import Dag


@dataclass(frozen=True, eq=False)
class BaseStep:
    """Common base of ``Step`` and ``IncludeStep``."""


@dataclass(frozen=True, eq=False)
class Step(BaseStep):
    """One step: ``name`` is also the dataset name other steps bind to.

    ``ray`` holds per-step Ray options (num_cpus, num_gpus, memory, resources,
    runtime_env, max_retries, retry_exceptions, scheduling_strategy, replicas,
    batch_size); it is validated at build time and ignored by the local runners.

    ``max_in_flight_bytes`` (an int, or a string such as ``"64MiB"``) bounds a stream
    producer's hand-off in bytes as well as in items (``max_in_flight``): see
    ``docs/concepts/max-in-flight.md``.
    """

    name: str
    fn: Callable[..., Any]
    on_error: OnError = OnError.CONTINUE
    mode: StepMode = StepMode.AUTO
    params: StepParams | None = None
    materializer: Callable[..., Any] | None = None
    error_materializer: Callable[..., Any] | None = None
    force_materialize: bool = False
    description: str = ""
    pipeline: str | None = None
    parent_pipeline: str | None = None
    observers: list[Any] = field(default_factory=list)
    max_in_flight: int = 1
    error_threshold_absolute: int | None = None
    error_threshold_pct: float | None = None
    ray: dict[str, Any] | None = None
    max_in_flight_bytes: int | str | None = None


@dataclass(frozen=True, eq=False)
class IncludeStep(BaseStep):
    """Embeds a sub-pipeline; ``fn`` adapts parent data to the sub-pipeline's params."""

    name: str
    fn: Callable[..., Any]
    pipeline: "PipelineDef"
    description: str = ""


@dataclass(frozen=True, eq=False)
class PipelineDef:
    """A pipeline definition, compiled and validated when it is created.

    Raises ``PipelineDefinitionError`` (a ``ValueError``) naming the pipeline, the
    step and the parameter when the definition is wrong.
    """

    name: str
    params: Any
    steps: list[Step | IncludeStep]
    resources: dict[str, Any] = field(default_factory=dict)
    exports: str | None = None
    materializer: Callable[..., Any] | None = None
    error_materializer: Callable[..., Any] | None = None
    observers: list[Any] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        from .dag_builder import build_dag

        object.__setattr__(self, "_dag", build_dag(self))

    @property
    def dag(self) -> "Dag":
        """The compiled, frozen Dag (built when the pipeline was created)."""
        return self._dag  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of the compiled Dag (same as ``self.dag.to_dict()``)."""
        return self.dag.to_dict()

    def params_type(self) -> type:
        """The params class of this pipeline."""
        return self.params


pipeline = PipelineDef
step = Step
include = IncludeStep
