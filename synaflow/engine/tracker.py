"""``StepTracker``: the rules for one step during one run.

It counts rows and items, decides what an error means under the step's policy,
evaluates thresholds, and says which events fire and when. Drivers call it on the
rare paths (first item, failure, exhaustion); on the hot path they only bump
``success``.
"""
from __future__ import annotations

from typing import Any

from ..core.exceptions import (InvalidThresholdRaiseInEACHStep, PipelineStopException,
                               ThresholdExceededException)
from ..core.observers import (MaterializationCompletedContext, MaterializationEvent,
                              MaterializationFailedContext, MaterializationStartedContext,
                              StepCompletedContext, StepEvent, StepFailedContext,
                              StepStartedContext)
from ..core.types import ErrorContext, OnError, StepMode
from .effects import Emit, Report


def value_count(value: Any) -> int:
    """What a value call counts as its output items (``success_count``)."""
    return len(value) if isinstance(value, (list, tuple, set)) else 1


_NO_ROW = object()
ITEM_REPR = 200  # characters of a failed item's repr kept in its ErrorContext


def note_item(exc: BaseException, row: Any) -> None:
    """Attach a short repr of the row ``exc`` came from (it travels with the exception
    from a Ray worker); ``row_failed`` puts it into the ErrorContext."""
    if type(row) is tuple and len(row) == 1:  # one source: the item itself
        row = row[0]
    try:
        text = repr(row)
    except Exception:
        text = f"<{type(row).__name__} object>"
    if len(text) > ITEM_REPR:
        text = text[:ITEM_REPR - 3] + "..."
    try:
        exc.synaflow_item = text  # type: ignore[attr-defined]
    except Exception:  # exceptions with __slots__: no item, the index still says which
        pass


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, PipelineStopException) and exc.cause is not None:
        exc = exc.cause
    return exc


class StepTracker:
    """Mutable per-run state of one step: ``success``/``errors`` counts, ``rows`` seen,
    ``started`` (STARTED emitted), ``closed`` (COMPLETED/FAILED emitted), ``failed``."""

    __slots__ = ("core", "node", "name", "observers", "error_handler", "success", "errors",
                 "started", "closed", "failed", "defer_close", "_pending_close")

    def __init__(self, core: Any, node: Any, observers: tuple, error_handler: Any) -> None:
        self.core = core
        self.node = node
        self.name = node.name
        self.observers = observers
        self.error_handler = error_handler
        self.success = 0
        self.errors = 0
        self.started = False
        self.closed = False
        self.failed = False
        self.defer_close = False
        self._pending_close: list = []

    # -- events -------------------------------------------------------------------
    def _scope(self) -> dict[str, Any]:
        n = self.node
        return dict(pipeline_scope=n.pipeline_scope, step_index_in_scope=n.step_index_in_scope,
                    step_total_in_scope=n.step_total_in_scope)

    def _base(self, event: Any) -> dict[str, Any]:
        return dict(pipeline_name=self.core.dag.name, run_id=self.core.run_id, event=event,
                    step_name=self.name)

    def start(self) -> list:
        """STARTED, once."""
        if self.started:
            return []
        self.started = True
        return [Emit(self.observers, StepStartedContext(
            **self._base(StepEvent.STARTED), mode=self.node.mode, on_error=self.node.on_error,
            **self._scope()))]

    def _completed(self, success: int, errors: int) -> list:
        self.closed = True
        effects = self.start()
        ctx = StepCompletedContext(**self._base(StepEvent.COMPLETED), mode=self.node.mode,
                                   on_error=self.node.on_error, success_count=success,
                                   error_count=errors, completed_all_inputs=True, **self._scope())
        effects.append(Emit(self.observers, ctx))
        return effects

    def _failed_event(self, exc: BaseException, *, complete: bool) -> Emit:
        self.closed = True
        self.failed = True
        return Emit(self.observers, StepFailedContext(
            **self._base(StepEvent.FAILED), mode=self.node.mode, on_error=self.node.on_error,
            success_count=self.success, error_count=max(self.errors, 1),
            completed_all_inputs=complete, exception=_unwrap(exc), **self._scope()))

    def _report(self, exc: BaseException, *, complete: bool | None,
                index: int | None = None) -> Report:
        return Report(self.error_handler, ErrorContext(
            pipeline_name=self.core.dag.name, dataset_name=self.name, step_name=self.name,
            run_id=self.core.run_id, exception=exc, mode=self.node.mode,
            on_error=self.node.on_error, success_count=self.success,
            error_count=max(self.errors, 1), completed_all_inputs=complete,
            item_index=index, item=None if index is None
            else getattr(exc, "synaflow_item", None)))

    # -- value calls (ALL) ------------------------------------------------------------
    def value_done(self, value: Any, *, count: int | None = None) -> list:
        """The call returned ``value``. A driver that never holds the value (it stays
        on a Ray worker) passes ``count=value_count(value)`` computed where it is."""
        self.success = value_count(value) if count is None else count
        return self._close(self._completed(self.success, 0))

    def call_failed(self, exc: BaseException) -> tuple[list, BaseException | None]:
        """An ALL call (or its materializer) raised: report; return the fatal error, if any."""
        if self._passing_through(exc):
            return [], exc  # e.g. a STOP from upstream passing through this step's code
        self.errors += 1
        if isinstance(exc, ThresholdExceededException):
            complete = self._sized_total() == exc.error_count + exc.success_count
            self.success, self.errors = exc.success_count, exc.error_count
            effects = [self._report(exc, complete=complete),
                       self._failed_event(exc, complete=True)]
            return effects, self.core.set_fatal(exc, self.name)
        effects = [self._report(exc, complete=None), self._failed_event(exc, complete=False)]
        return effects, self._policy(exc)

    def _passing_through(self, exc: BaseException) -> bool:
        """The run's fatal error coming back through this step's code (a STOP, a stall or
        a failed resource aborted the hand-off it was reading): not this step's failure,
        so no error report and no FAILED event for it. A threshold passing through a lazy
        reader is still reported on the reader, as 0.32.4 did."""
        return exc is self.core.fatal and not isinstance(exc, ThresholdExceededException)

    def _sized_total(self) -> int | None:
        return self.core.sized_total(self.name)

    def _policy(self, exc: BaseException) -> BaseException | None:
        self.core.step_errored(self.name)
        if self.node.on_error is OnError.STOP:
            return self.core.set_fatal(PipelineStopException(self.name, exc), self.name)
        return None

    # -- EACH rows --------------------------------------------------------------------
    def row_failed(self, exc: BaseException, row: Any = _NO_ROW
                   ) -> tuple[list, BaseException | None]:
        """One EACH row raised: the row is skipped (CONTINUE) or the run stops (STOP).
        ``row``: the failed row, where the runner has it (a Ray worker notes it on the
        exception, ``note_item``, before sending it)."""
        if row is not _NO_ROW:
            note_item(exc, row)
        if self._passing_through(exc):
            return [], exc
        if isinstance(exc, ThresholdExceededException):
            exc = InvalidThresholdRaiseInEACHStep(self.name, exc)
        index = self.success + self.errors  # rows before this one
        self.errors += 1
        effects = [self._report(exc, complete=False, index=index)]
        self.core.step_errored(self.name)
        if self.node.on_error is OnError.STOP:
            effects.append(self._failed_event(exc, complete=False))
            stop = PipelineStopException(self.name, exc)
            item = getattr(exc, "synaflow_item", None)
            stop.add_note(f"Step '{self.name}' failed on item {index} of its input"
                          + (f": {item}" if item is not None else ""))
            return effects, self.core.set_fatal(stop, self.name)
        return effects, None

    def rows_done(self) -> tuple[list, BaseException | None]:
        """All rows consumed: thresholds are evaluated once, here."""
        exceeded = self._threshold()
        if exceeded is not None:
            effects = self.start() + [self._failed_event(exceeded, complete=True)]
            return self._close(effects), self.core.set_fatal(exceeded, self.name)
        return self._close(self._completed(self.success, self.errors)), None

    def _threshold(self) -> ThresholdExceededException | None:
        n = self.node
        total = self.success + self.errors
        if n.error_threshold_absolute is not None and self.errors >= n.error_threshold_absolute:
            return ThresholdExceededException(self.name, self.errors, self.success,
                                              threshold_absolute=n.error_threshold_absolute)
        if n.error_threshold_pct is not None and total > 0 \
                and self.errors / total >= n.error_threshold_pct:
            return ThresholdExceededException(self.name, self.errors, self.success,
                                              threshold_pct=n.error_threshold_pct)
        return None

    # -- ALL streams --------------------------------------------------------------------
    def stream_done(self, count: int) -> list:
        self.success = count
        return self._close(self._completed(count, 0))

    def stream_failed(self, exc: BaseException, count: int) -> tuple[list, BaseException | None]:
        """The producer raised mid-stream. 0.32.4 charged this to the consumer; it is the
        producer's failure: its error materializer, its FAILED event, its policy. Under
        CONTINUE the stream ends at the valid prefix."""
        if self._passing_through(exc):
            return [], exc
        self.success = count
        self.errors += 1
        effects = self.start() + [self._report(exc, complete=False),
                                  self._failed_event(exc, complete=False)]
        self.core.step_errored(self.name)
        fatal = None
        if self.node.on_error is OnError.STOP:
            fatal = self.core.set_fatal(PipelineStopException(self.name, exc), self.name)
        return self._close(effects), fatal

    def _close(self, effects: list) -> list:
        """While a materialization is open, the closing event waits for it (07 §1.3)."""
        if self.defer_close:
            self._pending_close = effects
            return []
        return effects

    # -- materialization ------------------------------------------------------------------
    def _mat_base(self, event: Any) -> dict[str, Any]:
        return dict(pipeline_name=self.core.dag.name, run_id=self.core.run_id, event=event,
                    step_name=self.name, dataset_name=self.name)

    def materialization_started(self, consumer_type: Any, name: str | None) -> list:
        self.defer_close = self.node.is_stream
        return [Emit(self.observers, MaterializationStartedContext(
            **self._mat_base(MaterializationEvent.STARTED), consumer_type=consumer_type,
            materializer_name=name))]

    def materialization_completed(self, consumer_type: Any, name: str | None) -> list:
        effects = [Emit(self.observers, MaterializationCompletedContext(
            **self._mat_base(MaterializationEvent.COMPLETED), consumer_type=consumer_type,
            materializer_name=name))]
        return effects + self._flush()

    def materialization_failed(self, exc: BaseException, consumer_type: Any,
                               name: str | None) -> tuple[list, BaseException | None]:
        effects = [Emit(self.observers, MaterializationFailedContext(
            **self._mat_base(MaterializationEvent.FAILED), exception=exc,
            consumer_type=consumer_type, materializer_name=name))]
        held = self._flush()
        if self._passing_through(exc):
            # The stream's own failure ended the run (STOP) while it was collected:
            # its held-back report and FAILED event still go out, once (0.32.4).
            return effects + held, exc
        more, fatal = self.call_failed(exc)
        return effects + more, fatal

    def _flush(self) -> list:
        self.defer_close = False
        pending, self._pending_close = self._pending_close, []
        return pending

    @property
    def is_each(self) -> bool:
        return self.node.mode is StepMode.EACH
