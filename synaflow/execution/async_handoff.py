"""Asynchronous streams: EACH rows, stream tracking and fan-out for the asyncio runner.

The asyncio twins of ``sync_handoff``'s loops: they only iterate, await and call;
every decision (events, error policy, thresholds, buffer bounds) is the engine's.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

from ..core.exceptions import FanoutStreamClosedError
from ..core.protocols import implements
from ..engine.channels import END, ITEM, PULL, FanoutState
from ..engine.effects import perform_async
from ..engine.resources import maybe_await as _maybe_await
from ..engine.stall import StallGuard

_DONE = object()


async def _next_or_done(source: Any) -> Any:
    if implements(source, "__anext__"):
        try:
            return await source.__anext__()
        except StopAsyncIteration:
            return _DONE
    return next(source, _DONE)


async def async_rows(sources: list) -> AsyncIterator[tuple]:
    """zip-longest over sync and async iterables, padding exhausted ones with None."""
    iters = [s.__aiter__() if implements(s, "__aiter__") else iter(s) for s in sources]
    live = [True] * len(iters)
    while True:
        row = []
        for i, it in enumerate(iters):
            item = await _next_or_done(it) if live[i] else _DONE
            if item is _DONE:
                live[i] = False
                item = None
            row.append(item)
        if not any(live):
            return
        yield tuple(row)


async def each_rows_async(tracker: Any, fn: Callable[..., Any], plan: Any,
                          row_call: Any = None,
                          on_close: Callable[[], Any] | None = None) -> AsyncIterator[Any]:
    """Await ``fn`` once per row and yield results (see ``sync_handoff.each_rows``)."""
    try:
        call = row_call or (lambda row: fn(**plan.row_kwargs(row)))
        async for row in async_rows(plan.sources):
            if not tracker.started:
                await perform_async(tracker.start())
            try:
                result = call(row)
                if hasattr(result, "__await__"):
                    result = await result
            except Exception as exc:
                effects, fatal = tracker.row_failed(exc, row)
                await perform_async(effects)
                if fatal is exc:  # the run's error passing through: keep its cause
                    raise
                if fatal is not None:
                    raise fatal from exc
                continue
            tracker.success += 1
            yield result
        effects, fatal = tracker.rows_done()
        await perform_async(effects)
        if fatal is not None:
            raise fatal
    finally:
        if on_close is not None:
            await _maybe_await(on_close())


async def track_stream_async(tracker: Any, source: Any,
                             on_close: Callable[[], Any] | None = None) -> AsyncIterator[Any]:
    """Yield an async generator step's items; first item = STARTED, end = COMPLETED."""
    count = 0
    try:
        async for item in source:
            if count == 0:
                await perform_async(tracker.start())
            count += 1
            tracker.success = count  # live, for progress displays
            yield item
    except Exception as exc:
        effects, fatal = tracker.stream_failed(exc, count)
        await perform_async(effects)
        if fatal is exc:  # the run's error passing through: keep its cause
            raise
        if fatal is not None:
            raise fatal from exc
    else:
        await perform_async(tracker.stream_done(count))
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
        if on_close is not None:
            await _maybe_await(on_close())


class AsyncFanout:
    """asyncio fan-out of one async source to named branches, bounded per branch.

    Pulled by the branch reader that needs the next item (no pump task), so an
    early-stopping consumer stops its producer, as in the sync runner.
    """

    def __init__(self, source: Any, max_in_flight: int, branches: list[str], *,
                 producer: str = "stream", guard: StallGuard | None = None,
                 max_bytes: int | None = None) -> None:
        self.source = source
        self.state = FanoutState(producer, branches, max_in_flight, max_bytes=max_bytes)
        self.cond = asyncio.Condition()
        self.guard = guard

    async def lazy_iterator(self, branch: str) -> AsyncIterator[Any]:
        try:
            while True:
                kind, value = await self._next(branch)
                if kind == ITEM:
                    yield value
                elif kind == END:
                    return
                else:
                    raise value
        finally:
            await self.close(branch)

    async def _next(self, branch: str) -> tuple[str, Any]:
        while True:
            async with self.cond:
                kind, value = self.state.poll(branch)
                if kind == ITEM:
                    self.cond.notify_all()
                if kind not in (PULL, "wait"):
                    return kind, value
                if kind == "wait":
                    await self._wait(branch, value)
                    continue
            await self._pull()

    async def _wait(self, branch: str, reason: str) -> None:
        token = object()
        if self.guard is not None:
            self.guard.wait_begins(token, f"step '{branch}' waits: {reason}")
        try:
            await asyncio.wait_for(self.cond.wait(), 0.05)
        except asyncio.TimeoutError:
            pass
        finally:
            if self.guard is not None:
                self.guard.waiting.pop(token, None)

    async def _pull(self) -> None:
        try:
            item = await _next_or_done(self.source)
        except BaseException as exc:
            async with self.cond:
                self.state.failed(exc)
                self.cond.notify_all()
            if not isinstance(exc, Exception):
                raise
            return
        async with self.cond:
            if item is _DONE:
                self.state.exhausted()
            else:
                self.state.pulled(item)
                if self.guard is not None:
                    self.guard.progress += 1
            self.cond.notify_all()

    async def close(self, branch: str) -> None:
        async with self.cond:
            self.state.close(branch)
            self.cond.notify_all()

    def abort(self, exc: BaseException | None = None) -> None:
        """Called from the driver (no await): waiters see the error within one tick."""
        self.state.abort(exc or FanoutStreamClosedError(
            f"stream '{self.state.producer}' was closed when the run ended"))

    @property
    def finished(self) -> bool:
        return self.state.finished
