"""Synchronous streams: EACH rows, stream tracking, bounded hand-off, fan-out.

These loops are the transport for in-process runs: they iterate and call, and ask
``StepTracker`` / ``FanoutState`` (``synaflow.engine``) what every event means.
"""
from __future__ import annotations

import threading
from itertools import chain
from typing import Any, Callable, Iterator

from ..core.exceptions import FanoutStreamClosedError
from ..engine.channels import END, ERROR, ITEM, PULL, FanoutState, fits
from ..engine.effects import perform
from ..engine.resources import RowCall, SingleCall
from ..engine.sizes import nbytes
from ..engine.stall import StallGuard


def each_rows(tracker: Any, fn: Callable[..., Any], plan: Any, row_call: Any = None,
              on_close: Callable[[], None] | None = None) -> Iterator[Any]:
    """Call ``fn`` once per row (zip-longest of the EACH sources) and yield results.

    The tracker's success count moves with every row, so a progress display polling
    it shows true counts.
    """
    try:
        call = row_call or _fast_call(fn, plan)
        rows: Iterator[Any] = iter(plan.sources[0]) if call.single else iter(plan.rows())
        for first in rows:
            perform(tracker.start())
            rows = chain((first,), rows)
            break
        f = call.fn
        ok = tracker.success
        while True:
            try:
                for row in rows:
                    result = f(row)
                    ok += 1
                    tracker.success = ok
                    yield result
                break
            except Exception as exc:
                tracker.success = ok
                effects, fatal = tracker.row_failed(exc, row)
                perform(effects)
                if fatal is exc:  # the run's error passing through: keep its cause
                    raise
                if fatal is not None:
                    raise fatal from exc
        tracker.success = ok
        effects, fatal = tracker.rows_done()
        perform(effects)
        if fatal is not None:
            raise fatal
    finally:
        if on_close is not None:
            on_close()


def _fast_call(fn: Callable[..., Any], plan: Any) -> Any:
    """The cheapest correct call for a row (one argument is the common case)."""
    if len(plan.sources) == 1 and len(plan.source_params[0]) == 1 and not plan.static \
            and plan.source_params[0][0][1] is None:
        param = plan.source_params[0][0][0]
        if _only_positional_param(fn) == param:
            return SingleCall(fn)
        return SingleCall(lambda item: fn(**{param: item}))
    return RowCall(lambda row: fn(**plan.row_kwargs(row)))


def _only_positional_param(fn: Callable[..., Any]) -> str | None:
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(params) == 1 and params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return params[0].name
    return None


def track_stream(tracker: Any, source: Iterator[Any],
                 on_close: Callable[[], None] | None = None) -> Iterator[Any]:
    """Yield a generator step's items; first item = STARTED, exhaustion = COMPLETED."""
    count = 0
    try:
        for item in source:
            perform(tracker.start())
            count = tracker.success = 1
            yield item
            for item in source:
                count += 1
                tracker.success = count  # live, for progress displays
                yield item
    except Exception as exc:
        effects, fatal = tracker.stream_failed(exc, count)
        perform(effects)
        if fatal is exc:  # the run's error passing through: keep its cause
            raise
        if fatal is not None:
            raise fatal from exc
    else:
        perform(tracker.stream_done(count))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
        if on_close is not None:
            on_close()


def bounded(source: Iterator[Any], n: int, max_bytes: int | None = None) -> Iterator[Any]:
    """Refill up to ``n`` items only when the buffer is empty (0.32.4's bounded_iterator).

    Items read before a failure are delivered before the failure is raised. With
    ``max_bytes`` a refill also stops at that many bytes (``bounded_bytes``).
    """
    if max_bytes is not None:
        return bounded_bytes(source, n, max_bytes)

    def fill(buffer: list) -> None:
        for _ in range(n):
            buffer.append(next(source))
    return _refills(fill)


def bounded_bytes(source: Iterator[Any], n: int, max_bytes: int) -> Iterator[Any]:
    """``bounded`` whose refills also stop at ``max_bytes`` (the engine's ``fits``):
    the next item is read only while one of the last item's size still fits; one that
    turns out too big waits for the next refill, which it starts (so an item bigger
    than the bound on its own passes alone)."""
    carry: list[tuple[Any, int]] = []
    last = 0

    def fill(buffer: list) -> None:
        nonlocal last
        used = 0
        if carry:
            item, used = carry.pop()
            buffer.append(item)
        while len(buffer) < n and fits(max_bytes, used, last):
            item = next(source)
            last = nbytes(item)
            if not fits(max_bytes, used, last):
                carry.append((item, last))
                return
            buffer.append(item)
            used += last
    return _refills(fill)


def _refills(fill: Callable[[list], None]) -> Iterator[Any]:
    """Deliver ``fill``'s refills one after the other; a refill that fails delivers
    what it read, then raises; the end of the source ends it."""
    while True:
        buffer: list = []
        error, done = None, False
        try:
            fill(buffer)
        except StopIteration:
            done = True
        except Exception as exc:
            error = exc
        yield from buffer
        if error is not None:
            raise error
        if done:
            return


class SyncFanout:
    """Thread-safe fan-out of one source to named branches, bounded per branch.

    The source is pulled by whichever branch reader needs the next item (no pump
    thread); readers wait while a sibling branch is full.
    """

    def __init__(self, source: Iterator[Any], max_in_flight: int, branches: list[str], *,
                 producer: str = "stream", guard: StallGuard | None = None,
                 max_bytes: int | None = None) -> None:
        self.source = source
        self.state = FanoutState(producer, branches, max_in_flight, max_bytes=max_bytes)
        self.cond = threading.Condition()
        self.guard = guard

    def lazy_iterator(self, branch: str) -> Iterator[Any]:
        """The iterator one consumer reads; closing it detaches the branch."""
        try:
            while True:
                kind, value = self._next(branch)
                if kind == ITEM:
                    yield value
                elif kind == END:
                    return
                else:
                    raise value
        finally:
            self.close(branch)

    def _next(self, branch: str) -> tuple[str, Any]:
        with self.cond:
            while True:
                kind, value = self.state.poll(branch)
                if kind == PULL:
                    break
                if kind != "wait":
                    if kind == ITEM:
                        self.cond.notify_all()
                    return kind, value
                self._wait(branch, value)
        self._pull()
        return self._next(branch)

    def _wait(self, branch: str, reason: str) -> None:
        token = object()
        if self.guard is not None:
            self.guard.wait_begins(token, f"step '{branch}' waits: {reason}")
        try:
            self.cond.wait(0.05)
        finally:
            if self.guard is not None:
                self.guard.waiting.pop(token, None)

    def _pull(self) -> None:
        try:
            item = next(self.source)
        except StopIteration:
            with self.cond:
                self.state.exhausted()
                self.cond.notify_all()
            return
        except BaseException as exc:
            with self.cond:
                self.state.failed(exc)
                self.cond.notify_all()
            return
        with self.cond:
            self.state.pulled(item)
            if self.guard is not None:
                self.guard.progress += 1
            self.cond.notify_all()

    def close(self, branch: str) -> None:
        with self.cond:
            self.state.close(branch)
            self.cond.notify_all()

    def abort(self, exc: BaseException | None = None) -> None:
        with self.cond:
            self.state.abort(exc or FanoutStreamClosedError(
                f"stream '{self.state.producer}' was closed when the run ended"))
            self.cond.notify_all()

    @property
    def finished(self) -> bool:
        return self.state.finished


_ = ERROR
