"""Feeding an async stream to blocking Arrow writers without blocking the event loop.

Private helper of ``synaflow.materializers.arrow`` (imported only by async
pipelines). The blocking work runs in its own thread rather than the loop's
default executor: a materializer that waits there for its producer must not
take a pool slot the producer itself may need.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from typing import Any, Callable, Iterator

__all__ = ["LoopPull", "run_in_thread"]

_POLL_SECONDS = 0.25


class LoopPull:
    """The items of an async iterator, read from another thread through the event loop.

    Items travel in chunks (up to ``limit`` items, or up to and including one item
    of ``whole_types``, e.g. an Arrow batch), so a stream of small rows costs one
    cross-thread hop per chunk, and at most one chunk waits in memory.
    """

    def __init__(self, source: Any, loop: asyncio.AbstractEventLoop, limit: int,
                 whole_types: tuple[type, ...]) -> None:
        self.iterator = source.__aiter__()
        self.loop = loop
        self.limit = limit
        self.whole_types = whole_types
        self.cancelled = False

    def cancel(self) -> None:
        """Stop at the next chunk (the waiting coroutine was cancelled)."""
        self.cancelled = True

    async def _chunk(self) -> list[Any]:
        chunk: list[Any] = []
        while len(chunk) < self.limit:
            try:
                item = await self.iterator.__anext__()
            except StopAsyncIteration:
                break
            chunk.append(item)
            if isinstance(item, self.whole_types):
                break
        return chunk

    def items(self) -> Iterator[Any]:
        """Blocking iterator for the worker thread."""
        while True:
            if self.cancelled:
                raise RuntimeError("the async materialization was cancelled")
            chunk = self._wait(asyncio.run_coroutine_threadsafe(self._chunk(), self.loop))
            if not chunk:
                return
            yield from chunk

    def _wait(self, future: concurrent.futures.Future) -> list[Any]:
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if self.cancelled or self.loop.is_closed():
                    future.cancel()
                    raise RuntimeError("the async materialization was cancelled") from None


async def run_in_thread(work: Callable[[], Any], *, name: str,
                        on_cancel: Callable[[], None] | None = None) -> Any:
    """Run ``work()`` in a new daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(setter: Callable[[Any], None], outcome: Any) -> None:
        if not future.done():
            setter(outcome)

    def target() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting coroutine
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(settle, future.set_exception, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, future.set_result, result)

    threading.Thread(target=target, name=name, daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        raise
