"""Observer declarations, events, context objects and dispatch.

Observers see metadata only, never data items. A failing handler is logged on
``synaflow.observers`` and ignored: observers never change execution.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Literal

from .types import OnError, StepMode

_log = logging.getLogger("synaflow.observers")


class PipelineEvent(Enum):
    STARTED = "pipeline_started"
    COMPLETED = "pipeline_completed"
    FAILED = "pipeline_failed"


class StepEvent(Enum):
    STARTED = "step_started"
    COMPLETED = "step_completed"
    FAILED = "step_failed"


class MaterializationEvent(Enum):
    STARTED = "materialization_started"
    COMPLETED = "materialization_completed"
    FAILED = "materialization_failed"


@dataclass
class Observer:
    """Declares an observer: ``Observer(handler)``; the handler inspects ``ctx.event``."""

    handler: Callable[[Any], Any]


@dataclass(frozen=True)
class ResolvedObserver:
    """An observer as compiled onto a step; ``source`` is ``"pipeline"`` or ``"step"``."""

    handler: Callable[[Any], Any]
    source: Literal["pipeline", "step"]


@dataclass(frozen=True)
class BaseObserverContext:
    pipeline_name: str
    run_id: str
    event: Enum


@dataclass(frozen=True)
class PipelineStartedContext(BaseObserverContext):
    scope_step_totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineCompletedContext(BaseObserverContext):
    pass


@dataclass(frozen=True)
class PipelineFailedContext(BaseObserverContext):
    step_name: str | None = None
    exception: BaseException | None = None


@dataclass(frozen=True)
class StepStartedContext(BaseObserverContext):
    step_name: str = ""
    mode: StepMode = StepMode.ALL
    on_error: OnError = OnError.CONTINUE
    pipeline_scope: str = ""
    step_index_in_scope: int = 0
    step_total_in_scope: int = 0


@dataclass(frozen=True)
class StepCompletedContext(BaseObserverContext):
    step_name: str = ""
    mode: StepMode = StepMode.ALL
    on_error: OnError = OnError.CONTINUE
    success_count: int = 0
    error_count: int = 0
    completed_all_inputs: bool = True
    pipeline_scope: str = ""
    step_index_in_scope: int = 0
    step_total_in_scope: int = 0


@dataclass(frozen=True)
class StepFailedContext(BaseObserverContext):
    step_name: str = ""
    mode: StepMode = StepMode.ALL
    on_error: OnError = OnError.CONTINUE
    success_count: int = 0
    error_count: int = 1
    completed_all_inputs: bool = False
    exception: BaseException | None = None
    pipeline_scope: str = ""
    step_index_in_scope: int = 0
    step_total_in_scope: int = 0


@dataclass(frozen=True)
class MaterializationStartedContext(BaseObserverContext):
    step_name: str = ""
    dataset_name: str = ""
    consumer_type: Any | None = None
    materializer_name: str | None = None


@dataclass(frozen=True)
class MaterializationCompletedContext(BaseObserverContext):
    step_name: str = ""
    dataset_name: str = ""
    consumer_type: Any | None = None
    materializer_name: str | None = None


@dataclass(frozen=True)
class MaterializationFailedContext(BaseObserverContext):
    step_name: str = ""
    dataset_name: str = ""
    exception: BaseException | None = None
    consumer_type: Any | None = None
    materializer_name: str | None = None


def _handler_of(entry: Any) -> Callable[[Any], Any]:
    return entry.handler if isinstance(entry, (Observer, ResolvedObserver)) else entry


def _report(ctx: BaseObserverContext) -> None:
    _log.exception("Observer handler failed for event '%s'", ctx.event.value)


def dispatch_observers(observers: Any, ctx: BaseObserverContext) -> None:
    """Call every handler with ``ctx``; a failing handler is logged and skipped."""
    for entry in observers:
        try:
            _handler_of(entry)(ctx)
        except Exception:
            _report(ctx)


async def dispatch_observers_async(observers: Any, ctx: BaseObserverContext) -> None:
    """Await every handler with ``ctx``; sync handlers are called inline."""
    for entry in observers:
        try:
            result = _handler_of(entry)(ctx)
            if hasattr(result, "__await__"):
                await result
        except Exception:
            _report(ctx)
