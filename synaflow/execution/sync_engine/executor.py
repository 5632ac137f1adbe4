"""``run`` / ``PipelineExecutor``: the synchronous runner.

Each step runs in its own daemon thread as soon as its inputs are published; lazy
streams are pulled by their consumers, so one item travels a whole single-consumer
chain before the next is produced. The rules come from ``synaflow.engine``.

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def sq(n: int) -> int:
    ...     return n * n
    >>> run(pipeline(name="sq", params=P, steps=[step("sq", fn=sq)]), P(3)).outputs
    {'sq': 9}
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from ...core.exceptions import FanoutStreamClosedError, RunnerMismatchError, StallError
from ...engine.core import RunCore
from ...engine.effects import perform
from ...engine import type_checks
from ...engine.keywords import refuse_unknown
from ...engine.progress import ProgressTicker, as_dag
from ...engine.result import RunResult
from ...engine.stall import StallGuard
from ..local_steps import LocalStep

_TICK = 0.05


class PipelineExecutor:
    """Lower-level object behind ``run``: ``execute(params)`` then read ``outputs``.

    ``resource_factories`` default to the Dag's own (0.32.4 defaulted to none).
    ``stall_timeout`` (seconds, off by default) also fails runs where nothing
    progresses; a deadlock (every step waiting) is always reported after ``grace``.
    ``progress``, if given, is called as ``progress(core)`` about every 0.1 s while
    the run waits (the CLI's live display reads the ``RunCore`` trackers).
    ``check_types=True`` checks every value and item a step returns against its
    declared return type (``synaflow.engine.type_checks``). ``slice_spec`` runs only
    part of the contract (``synaflow.export.run_slice`` makes it).
    """

    def __init__(self, dag: Any, *, overrides: Any = None,
                 resource_factories: dict[str, Any] | None = None,
                 stall_timeout: float | None = None, grace: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[Any], None] | None = None,
                 worker_shutdown_poll_seconds: float = 0.5,
                 worker_shutdown_log_every_seconds: float = 60.0,
                 worker_shutdown_log_grace_seconds: float = 2.0,
                 check_types: bool = False, slice_spec: Any = None,
                 **unknown: Any) -> None:
        # The three worker_shutdown_* keywords are 0.32.4's: accepted, and no-ops here
        # (docs/compatibility.md); any other keyword is refused.
        refuse_unknown("PipelineExecutor()", unknown, PipelineExecutor.__init__)
        self.dag = as_dag(dag)
        if type_checks.resolve(check_types):
            self.dag = type_checks.checked_dag(self.dag)
        if self.dag.requires_async_runner:
            raise RunnerMismatchError(
                f"Pipeline '{self.dag.name}' has async steps or AsyncIterator types, so it "
                "must be executed with async_run(): use `await async_run(...)` (or "
                "AsyncPipelineExecutor) instead of run()")
        self.overrides = overrides
        self.resource_factories = resource_factories
        self.stall_timeout = stall_timeout
        self.grace = grace
        self.clock = clock
        self.progress = progress
        self.slice_spec = slice_spec
        self.outputs: dict[str, Any] = {}
        self.result: RunResult | None = None

    def execute(self, params: Any) -> RunResult:
        core = RunCore(self.dag, params, self.overrides, clock=self.clock,
                       resource_factories=self.resource_factories, slice_spec=self.slice_spec)
        run = _SyncRun(core, StallGuard(clock=self.clock, grace=self.grace,
                                        stall_timeout=self.stall_timeout),
                       progress=ProgressTicker(core, self.progress))
        try:
            self.result = run.run()
        finally:
            self.outputs = core.values
        return self.result


class _SyncRun:
    """One synchronous run: launches step threads, waits, cleans up."""

    def __init__(self, core: RunCore, guard: StallGuard,
                 progress: Callable[[], None] = lambda: None) -> None:
        self.core = core
        self.guard = guard
        self.progress = progress
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: dict[str, threading.Thread] = {}
        self.channels: list = []

    def run(self) -> RunResult:
        core = self.core
        perform(core.start())
        self._launch()
        while not core.all_done():
            self.progress()
            try:
                name = self.done.get(timeout=_TICK)
            except queue.Empty:
                self._check_stall()
                continue
            core.step_finished(name)
            self._launch()
        if core.fatal is not None:
            return self._fail(core.fatal)
        self._close_channels()
        perform(core.completed())
        return core.result()

    def _launch(self) -> None:
        for name in self.core.ready_steps():
            thread = threading.Thread(target=self._work, args=(name,), daemon=True,
                                      name=f"synaflow-{self.core.dag.name}-{name}")
            self.threads[name] = thread
            thread.start()
        self._close_released()

    def _work(self, name: str) -> None:
        try:
            LocalStep(self.core, name, guard=self.guard, channels=self.channels).run()
        except BaseException as exc:  # a fatal error surfacing through user code
            self.core.set_fatal(self.core.fatal or exc, name)
        finally:
            self.done.put(name)

    def _close_released(self) -> None:
        """A consumer that will read no more must not hold back its fan-out siblings."""
        for producer, consumer in self.core.take_released():
            for channel in list(self.channels):
                state = getattr(channel, "state", None)
                if state is not None and state.producer == producer \
                        and consumer in state.buffers:
                    channel.close(consumer)

    def _active(self) -> int:
        return sum(1 for t in self.threads.values() if t.is_alive())

    def _check_stall(self) -> None:
        message = self.guard.check(self._active(), self.core.busy)
        if message is not None:
            self.core.set_fatal(StallError(f"Pipeline '{self.core.dag.name}': {message}"), None)

    def _fail(self, exc: BaseException) -> RunResult:
        for channel in self.channels:
            if hasattr(channel, "abort"):
                channel.abort(exc)
        self._join()
        self._close_channels()
        perform(self.core.failed(exc))
        raise exc

    def _join(self) -> None:
        """Wait for running steps; one stuck in user code is left behind (daemon) after
        the grace period instead of hanging the caller."""
        deadline = self.core.clock() + max(self.guard.grace * 4, 2.0)
        for thread in self.threads.values():
            while thread.is_alive() and self.core.clock() < deadline:
                thread.join(_TICK)

    def _close_channels(self) -> None:
        for channel in self.channels:
            if hasattr(channel, "abort"):
                if not channel.finished:
                    channel.abort(FanoutStreamClosedError(
                        f"stream '{channel.state.producer}' was not fully consumed"))
            else:
                close = getattr(channel, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        pass


def run(dag: Any, params: Any, overrides: Any = None, **options: Any) -> RunResult:
    """Run a pipeline (or its compiled Dag) synchronously and return a ``RunResult``.

    Fatal errors (``PipelineStopException``, ``ThresholdExceededException``, resource
    failures, ``StallError``) are raised; step failures under ``OnError.CONTINUE`` are
    reported to error materializers and show in ``RunResult.status``/``steps``.
    """
    refuse_unknown("run()", options, PipelineExecutor.__init__)
    return PipelineExecutor(dag, overrides=overrides, **options).execute(params)
