"""Async pipelines on the Ray runner: one event loop per process, and the async
twins of the worker's calls.

A step of an async pipeline (``async def``, an async generator, ``AsyncIterator``
parameters) runs on its process's own event loop: a daemon thread started on first
use and kept for the life of the process (a Ray task worker, a ``StepWorker`` actor,
or the driver in the debug modes). Callers in any thread hand a coroutine to it and
wait (``run_async``), so an async generator, its resources and the streams it reads
always live on one loop, whichever actor thread asks for its next batch, and no
loop is created per call or per row.

Semantics are ``async_run``'s: rows of a batch are awaited one after the other, in
order (``each_rows_async``); batches of a replica with ``max_concurrency`` > 1
overlap on the loop, as threads overlap them for synchronous steps. Materializers
and resources are awaited where they are awaitable; a stream's custom materializer
receives an async iterator over the items, as it receives the stream in
``async_run``.

The driver performs effects synchronously; ``AsyncHandlersCore`` makes the async
observers and error materializers of an async pipeline callable there (they run on
the driver's loop thread, one at a time, in the order the rules emit them).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
from typing import Any, AsyncIterator, Callable

from ..core.observers import Observer, ResolvedObserver
from ..core.types import StepMode
from ..engine.core import CallPlan, RunCore
from ..engine.tracker import value_count
from ..engine.publication import check_output_kind
from ..engine.resources import AsyncResources, Resources
from .errors import portable_error
from .calls import (BatchOutcome, CallOutcome, RowOutcomes, StepSpec, call_failed, describe,
                    load_spec, row_calls)


# -- the loop ------------------------------------------------------------------------------
class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="synaflow-async-loop",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive()


_LOOP: _LoopThread | None = None
_LOOP_LOCK = threading.Lock()


def event_loop() -> _LoopThread:
    """This process's loop thread (started on first use; again after a fork)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or not _LOOP.alive():
            _LOOP = _LoopThread()
        return _LOOP


def run_async(coro: Any) -> Any:
    """Run ``coro`` on this process's loop and wait for its result (any thread but
    the loop's own). An interrupted wait (Ctrl-C, a stopped run) cancels it: the wait
    wakes up now and then, as an exception raised in this thread from another one
    (``stopping``) arrives only between bytecodes."""
    owner = event_loop()
    if threading.current_thread() is owner.thread:
        coro.close()
        raise RuntimeError("run_async() called from the synaflow loop thread; "
                           "await the coroutine instead")
    future = asyncio.run_coroutine_threadsafe(coro, owner.loop)
    try:
        while True:
            try:
                return future.result(timeout=0.1)
            except concurrent.futures.TimeoutError:
                continue
    except BaseException:
        future.cancel()
        raise


async def settle(value: Any) -> Any:
    """``value``, awaited if it is awaitable."""
    if hasattr(value, "__await__"):
        return await value
    return value


async def aiter_over(items: list) -> AsyncIterator[Any]:
    for item in items:
        yield item


# -- the driver: async observers and error materializers ------------------------------------
def blocking(handler: Any) -> Any:
    """A handler the driver can call inline: an awaitable result is awaited on the loop."""
    if handler is None or getattr(handler, "synaflow_blocking", False):
        return handler

    def call(ctx: Any) -> Any:
        result = handler(ctx)
        if hasattr(result, "__await__"):
            return run_async(settle(result))
        return result
    call.__name__ = getattr(handler, "__name__", "handler")
    call.__qualname__ = getattr(handler, "__qualname__", call.__name__)
    call.synaflow_blocking = True  # type: ignore[attr-defined]
    return call


def _blocking_observers(observers: Any) -> tuple:
    out = []
    for entry in observers:
        if isinstance(entry, (Observer, ResolvedObserver)):
            entry = dataclasses.replace(entry, handler=blocking(entry.handler))
        else:
            entry = blocking(entry)
        out.append(entry)
    return tuple(out)


class AsyncHandlersCore(RunCore):
    """``RunCore`` for an async pipeline on the Ray driver: same rules, with every
    observer and error materializer wrapped by ``blocking``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pipeline_observers = _blocking_observers(self._pipeline_observers)

    def step_observers(self, name: str) -> tuple:
        return _blocking_observers(super().step_observers(name))

    def tracker(self, name: str) -> Any:
        t = super().tracker(name)
        t.error_handler = blocking(t.error_handler)
        return t


def core_class(dag: Any) -> type[RunCore]:
    """The ``RunCore`` class the Ray driver uses for ``dag``."""
    return AsyncHandlersCore if dag.requires_async_runner else RunCore


# -- workers: the async twins of worker.py's calls ------------------------------------------
def open_resources(plan: CallPlan, mode: StepMode) -> AsyncResources:
    """``Resources(plan, mode)`` for an async step: factories and contexts awaited."""
    return run_async(AsyncResources().open(plan, mode))


def resources_for(spec: StepSpec, plan: CallPlan, mode: StepMode) -> Any:
    """The step's resources, made as its pipeline makes them (awaited if async)."""
    return open_resources(plan, mode) if spec.is_async else Resources(plan, mode)


def call_value(box: tuple, streams: dict[str, Any] | None, prepared: Any = None
               ) -> tuple[CallOutcome, Any]:
    """``worker.call_value`` for an async step. Its inputs are fetched here, in the
    calling thread, so a slow fetch never holds up the loop."""
    try:
        spec, static = load_spec(box)
    except Exception as exc:
        return CallOutcome(setup_error=portable_error(exc, box[0])), None
    meta, value = run_async(_call_value(spec, {**static, **(streams or {})}, box, prepared))
    if meta.error is None and meta.setup_error is None and meta.mat_error is None:
        from .objects import place  # small values inline, large ones in the store

        return place(spec, meta, value)
    return meta, value


async def _call_value(spec: StepSpec, static: dict[str, Any], box: tuple,
                      prepared: Any = None) -> tuple[CallOutcome, Any]:
    try:
        plan = CallPlan(static, [], [], spec.resources)
        resources = prepared if prepared is not None else \
            await AsyncResources().open(plan, StepMode.ALL)
    except Exception as exc:
        return CallOutcome(setup_error=portable_error(exc, box[0])), None
    try:
        value = await settle(spec.fn(**plan.static, **resources.values))
        check_output_kind(spec.node, value)
    except Exception as exc:
        return call_failed(box, spec, exc)
    finally:
        await resources.close()
    meta = CallOutcome(count=value_count(value))
    if spec.materializer is not None:
        try:
            value = await settle(spec.materializer(value))
        except Exception as exc:
            meta.mat_error = spec.error(exc)
            return meta, None
    return describe(meta, value), value


def materialize(spec: StepSpec, items: list) -> tuple[BaseException | None, Any]:
    """A finished stream's custom materializer, given an async iterator over ``items``
    as ``async_run`` gives it the stream: ``(error, value)``."""
    return run_async(_materialize(spec, items))


async def _materialize(spec: StepSpec, items: list) -> tuple[BaseException | None, Any]:
    try:
        return None, await settle(spec.materializer(aiter_over(items)))  # type: ignore[misc]
    except Exception as exc:
        return spec.error(exc), None


def run_rows(spec: StepSpec, static: dict[str, Any], columns: list[list], row_call: Any,
             box: tuple) -> tuple[BatchOutcome, list]:
    """``worker.run_rows`` for an async step: one coroutine per batch, rows awaited in order."""
    return run_async(_run_rows(spec, static, columns, row_call, box))


async def _run_rows(spec: StepSpec, static: dict[str, Any], columns: list[list],
                    row_call: Any, box: tuple) -> tuple[BatchOutcome, list]:
    out = RowOutcomes(spec, box)
    call, rows = row_calls(spec, static, columns, row_call)
    for index, row in enumerate(rows):
        try:
            out.add(index, await settle(call(row)))
        except Exception as exc:
            if out.failed(index, exc, row):
                break
    return out.done()


def start_stream(spec: StepSpec, kwargs: dict[str, Any], skip: int) -> Any:
    """Create an async generator step's iterator on the loop and drop the ``skip`` items
    an earlier attempt already delivered."""
    return run_async(_start_stream(spec, kwargs, skip))


async def _start_stream(spec: StepSpec, kwargs: dict[str, Any], skip: int) -> Any:
    stream = await settle(spec.fn(**kwargs))
    check_output_kind(spec.node, stream)
    for _ in range(skip):
        await stream.__anext__()
    return stream


def pull(stream: Any, k: int, items: list) -> tuple[bool, BaseException | None]:
    """Append up to ``k`` items of an async iterator to ``items``: ``(ended, error)``."""
    return run_async(_pull(stream, k, items))


async def _pull(stream: Any, k: int, items: list) -> tuple[bool, BaseException | None]:
    append = items.append
    try:
        for _ in range(k):
            append(await stream.__anext__())
    except StopAsyncIteration:
        return True, None
    except Exception as exc:
        return True, exc
    return False, None


def close_quietly(close: Callable[[], Any] | None) -> None:
    """Call ``close`` (``aclose``, ``AsyncResources.close``, or a plain close); await
    what it returns; ignore failures (the stage is being released)."""
    if close is None:
        return
    try:
        result = close()
        if hasattr(result, "__await__"):
            run_async(settle(result))
    except Exception:
        pass
