"""``StepWorker``: the actor that hosts stateful stages.

Generator steps (pulled with ``next_batch``), ALL-mode steps that read streams
(their iterator parameters are ``Feed``s the driver pushes slices into) and
replicas of EACH steps that use resources (created once per replica). One actor
hosts one stage of a run at a time, in a *slot*; ``release`` frees the slot so the
actor can be reused by a later run (actors take seconds to start).

Steps of async pipelines run on the process's event loop (``aio``): async
generators are pulled there, ``AsyncIterator`` parameters read their ``Feed`` with
``async for``, and async resources are entered and exited there.
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from typing import Any

from ..core.types import StepMode
from ..engine.core import CallPlan
from ..engine.publication import check_output_kind
from . import aio
from .errors import portable_error
from .objects import ItemNotSerialisable, check_item
from .calls import (NO_ROWS, CallOutcome, PullOutcome, async_spec, estimate_bytes, forget_spec,
                    load_spec, unpack)
from .worker import call_value, each_batch, open_for_call


class FeedClosed(Exception):
    """The driver released the stage while its function was still reading."""


_EMPTY = object()


class Feed:
    """One stream parameter, fed by the driver. ``push`` returns once the consumer
    has taken what was pushed, so the driver keeps at most one push outstanding.
    Read with ``for`` (a synchronous step, in its actor thread) or ``async for`` (an
    async step, on the event loop; it waits on a future, never blocking the loop)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.queue: deque = deque()
        self.pushed = 0
        self.taken = 0
        self.done = False
        self.error: BaseException | None = None
        self.waiters: list[tuple[Any, Any]] = []  # (loop, future) of async readers

    def push(self, items: list) -> int:
        with self.cond:
            self.pushed += 1
            seq = self.pushed
            self.queue.append(items)
            self._notify()
            while self.taken < seq and self.error is None:
                self.cond.wait(0.5)
        return seq

    def end(self) -> None:
        with self.cond:
            self.done = True
            self._notify()

    def abort(self, exc: BaseException) -> None:
        with self.cond:
            self.error = exc
            self._notify()

    def _notify(self) -> None:
        """(Holding ``cond``) wake every reader, sync or async."""
        self.cond.notify_all()
        for loop, future in self.waiters:
            loop.call_soon_threadsafe(_wake, future)
        self.waiters.clear()

    def _take_nowait(self) -> Any:
        """(Holding ``cond``) the next pushed list; None at the end; ``_EMPTY`` if the
        next push has not come yet."""
        if self.error is not None:
            raise self.error
        if not self.queue:
            return None if self.done else _EMPTY
        self.taken += 1
        self.cond.notify_all()
        return self.queue.popleft()

    def __iter__(self):
        while True:
            with self.cond:
                items = self._take_nowait()
                while items is _EMPTY:
                    self.cond.wait(0.5)
                    items = self._take_nowait()
            if items is None:
                return
            yield from items

    async def __aiter__(self):
        loop = asyncio.get_running_loop()
        while True:
            with self.cond:
                items = self._take_nowait()
                if items is _EMPTY:
                    future = loop.create_future()
                    self.waiters.append((loop, future))
            if items is _EMPTY:
                await future
                continue
            if items is None:
                return
            for item in items:
                yield item


def _wake(future: Any) -> None:
    if not future.done():
        future.set_result(None)


class _Slot:
    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.gen: Any = None
        self.resources: Any = None
        self.gate: threading.Semaphore | None = None
        self.row_call: Any = None
        self.spec: Any = None
        self.turn: threading.Condition | None = None
        self.setup = threading.Lock()
        self.next_seq = 0
        self.produced = 0


class StepWorker:
    """The actor class (plain Python; the transport makes it remote)."""

    def __init__(self) -> None:
        self.slots: dict[str, _Slot] = {}
        self.lock = threading.Lock()

    def where(self) -> tuple:
        """(process id, Ray node id) of this actor; the node is None outside Ray."""
        try:
            import ray

            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        except Exception:
            node = None
        return os.getpid(), node

    def _slot(self, slot: str) -> _Slot:
        with self.lock:
            s = self.slots.get(slot)
            if s is None:
                s = self.slots[slot] = _Slot()
            return s

    def _feeds(self, slot: str, params: list[str], is_async: bool = False
               ) -> dict[str, Any]:
        """The stream parameters' readers: iterators, or async iterators for async steps."""
        s = self._slot(slot)
        with self.lock:
            for p in params:
                s.feeds.setdefault(p, Feed())
        if is_async:
            return {p: s.feeds[p].__aiter__() for p in params}
        return {p: iter(s.feeds[p]) for p in params}

    # -- ALL calls ------------------------------------------------------------------------
    def call(self, slot: str, box: tuple, streams: list[str]) -> tuple[CallOutcome, Any]:
        """Call a step that reads streams, with the resources ``open_call`` made."""
        s = self._slot(slot)
        prepared, s.resources = s.resources, None  # the call closes them
        return call_value(box, self._feeds(slot, streams, async_spec(box) is not None),
                          prepared=prepared)

    def open_call(self, slot: str, box: tuple) -> BaseException | None:
        """Make the resources of a step that reads streams before it is called (the
        driver reports it STARTED then, as in-process); a factory's error, else None."""
        s = self._slot(slot)
        s.resources, error = open_for_call(box)
        return error

    def start(self, slot: str, box: tuple, streams: list[str], skip: int = 0) -> CallOutcome:
        """Create a generator step's iterator; ``skip`` items already delivered by an
        earlier attempt (actor restart after a fault) are replayed and dropped."""
        meta, s = CallOutcome(), self._slot(slot)
        try:
            spec, static = load_spec(box)
            plan = CallPlan({**static, **self._feeds(slot, streams, spec.is_async)}, [], [],
                            spec.resources)
            s.resources = aio.resources_for(spec, plan, StepMode.ALL)
        except Exception as exc:
            meta.setup_error = portable_error(exc, box[0])
            return meta
        try:
            if spec.is_async:
                gen = aio.start_stream(spec, {**plan.static, **s.resources.values}, skip)
            else:
                gen = spec.fn(**plan.static, **s.resources.values)
                check_output_kind(spec.node, gen)
                for _ in range(skip):
                    next(gen)
        except Exception as exc:
            meta.error = spec.error(exc)
            return meta
        s.gen, s.produced, s.spec = gen, skip, spec
        return meta

    def next_batch(self, slot: str, k: int) -> tuple[PullOutcome, list]:
        """Up to ``k`` items of the slot's generator, and how pulling them went."""
        s = self.slots[slot]
        items: list = []
        done, error, t0 = False, None, time.perf_counter()
        try:
            if s.spec.is_async:
                done, error = aio.pull(s.gen, k, items)
                error = None if error is None else s.spec.error(error)
            else:
                for _ in range(k):
                    items.append(next(s.gen))
        except StopIteration:
            done = True
        except Exception as exc:
            done, error = True, s.spec.error(exc)
        for i, item in enumerate(items):
            try:
                check_item(s.spec, item, i)
            except ItemNotSerialisable as exc:  # the stream ends before that item
                del items[i:]
                done, error = True, exc.error_for(s.produced + i)
                break
        s.produced += len(items)
        return PullOutcome(len(items), done, error, time.perf_counter() - t0,
                           estimate_bytes(items)), items

    def push(self, slot: str, param: str, bounds: list, *values: Any) -> int:
        """Items for a stream parameter (``pack``ed slices; Ray fetched ``values``)."""
        self._feeds(slot, [param])
        return self.slots[slot].feeds[param].push(unpack(bounds, values)[0])

    def end(self, slot: str, param: str) -> None:
        self._feeds(slot, [param])
        self.slots[slot].feeds[param].end()

    # -- EACH replicas --------------------------------------------------------------------
    def each(self, slot: str, box: tuple, seq: int, concurrency: int, bounds: list,
             *values: Any):
        """One batch on this replica. With ``concurrency`` 1 batches run one at a time
        in ``seq`` order, as rows run in-process (a shared resource sees them in
        order); a larger ``max_concurrency`` lets them overlap."""
        s = self._slot(slot)
        with self.lock:
            if s.gate is None:
                s.gate = threading.Semaphore(concurrency)
                s.turn = threading.Condition()
        ordered = concurrency == 1
        if ordered:
            with s.turn:
                while s.next_seq != seq:
                    s.turn.wait(0.5)
        try:
            with s.gate:
                return self._each(s, box, bounds, values)
        finally:
            if ordered:
                with s.turn:
                    s.next_seq += 1
                    s.turn.notify_all()

    def open(self, slot: str, box: tuple) -> BaseException | None:
        """Make this replica's resources before its first batch (the driver reports
        the step STARTED once every replica has them, as in-process); the error of a
        factory that raised, else None."""
        s = self._slot(slot)
        with s.setup:
            return self._setup(s, box) if s.resources is None else None

    def _setup(self, s: _Slot, box: tuple) -> BaseException | None:
        spec, static = load_spec(box)
        try:
            resources = aio.resources_for(spec, CallPlan({}, [], [], spec.resources),
                                          StepMode.EACH)
        except Exception as exc:
            return spec.error(exc)
        # Row kwargs need only the static values and the row wiring, so one per-row
        # call serves every batch (a context-manager resource made at setup is
        # entered by the first row only, then one is made per row).
        plan = CallPlan({**static, **resources.values}, [], spec.source_params,
                        spec.resources)
        s.row_call = resources.row_call(spec.fn, plan)
        s.resources = resources
        return None

    def _each(self, s: _Slot, box: tuple, bounds: list, values: tuple) -> tuple:
        # With max_concurrency > 1 the first batches arrive together: one sets up.
        with s.setup:
            if s.resources is None:
                error = self._setup(s, box)
                if error is not None:
                    return NO_ROWS._replace(setup_error=error), []
        return each_batch(box, bounds, *values, replica=s)

    # -- lifecycle -------------------------------------------------------------------------
    def release(self, slot: str) -> None:
        """Close the slot's generator, resources and feeds."""
        forget_spec(slot)  # its cached inputs would keep a finished run's objects pinned
        with self.lock:
            s = self.slots.pop(slot, None)
        if s is None:
            return
        for feed in s.feeds.values():
            feed.abort(FeedClosed(f"stage '{slot}' was released"))
        aio.close_quietly(getattr(s.gen, "aclose", None) or getattr(s.gen, "close", None))
        if s.resources is not None:
            aio.close_quietly(s.resources.close)
