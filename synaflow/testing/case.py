"""What a conformance case is, and how one is checked against a runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.observers import Observer
from . import recorder


@dataclass(frozen=True)
class Case:
    """One example pipeline with its expected behaviour.

    ``outputs``: expected ``RunResult.outputs`` (exact). ``raises``: the exception type
    a fatal run must raise (then ``outputs`` is ignored). ``errors``: expected error
    materializer records (step, exception type, success_count, error_count), sorted.
    ``asyncify``: the case also runs as a generated async pipeline.
    """

    name: str
    build: Callable[[], Any]
    params: Any
    outputs: dict[str, Any] | None = None
    status: str = "succeeded"
    raises: type | None = None
    errors: list[tuple] | None = None
    check: Callable[["Outcome"], None] | None = None
    asyncify: bool = True
    overrides: Callable[[Any], Any] | None = None
    tags: tuple[str, ...] = ()


@dataclass
class Outcome:
    """What a run produced: result or error, plus everything that was recorded."""

    result: Any = None
    error: BaseException | None = None
    events: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple] = field(default_factory=list)
    notes: list[Any] = field(default_factory=list)


def make(name: str, params: Any, steps: list, **kw: Any) -> Any:
    """A pipeline with the recording observer and error materializer attached."""
    from ..core.definition import pipeline

    kw.setdefault("observers", [Observer(recorder.observe)])
    kw.setdefault("error_materializer", recorder.record_error)
    return pipeline(name=name, params=params, steps=steps, **kw)


def execute(case: Case, runner: Any, *, pipeline: Any = None) -> Outcome:
    """Run ``case`` with ``runner`` (an object with ``run(p, params, overrides)``)."""
    p = pipeline if pipeline is not None else case.build()
    overrides = case.overrides(p) if case.overrides is not None else None
    recorder.reset()
    outcome = Outcome()
    try:
        outcome.result = runner.run(p, case.params, overrides)
    except Exception as exc:  # the case says whether this was expected
        outcome.error = exc
    outcome.events = recorder.normalised_events()
    outcome.errors = recorder.error_summary()
    outcome.notes = list(recorder.notes)
    return outcome


def verify(case: Case, outcome: Outcome) -> None:
    """Assert the case's expectations on one outcome."""
    if case.raises is not None:
        assert outcome.error is not None, f"{case.name}: expected {case.raises.__name__}, " \
                                          f"run returned {outcome.result}"
        assert isinstance(outcome.error, case.raises), \
            f"{case.name}: expected {case.raises.__name__}, got {outcome.error!r}"
    else:
        if outcome.error is not None:
            raise AssertionError(f"{case.name}: unexpected {outcome.error!r}") from outcome.error
        assert outcome.result.status == case.status, \
            f"{case.name}: status {outcome.result.status} != {case.status}"
        if case.outputs is not None:
            assert dict(outcome.result.outputs) == case.outputs, \
                f"{case.name}: outputs {dict(outcome.result.outputs)} != {case.outputs}"
    if case.errors is not None:
        assert outcome.errors == sorted(case.errors), \
            f"{case.name}: errors {outcome.errors} != {sorted(case.errors)}"
    if case.check is not None:
        case.check(outcome)
