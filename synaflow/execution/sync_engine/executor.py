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

import dataclasses
import queue
import threading
from typing import Any, Callable

from ...core.exceptions import FanoutStreamClosedError, RunnerMismatchError, StallError
from ...engine.core import RunCore
from ...engine.effects import perform
from ...engine.options import RunnerOptions
from ...engine.result import RunResult
from ...engine.stall import StallGuard
from ..local_steps import LocalStep

_TICK = 0.05


@dataclasses.dataclass(frozen=True)
class SyncOptions(RunnerOptions):
    """``RunnerOptions`` and 0.32.4's three ``worker_shutdown_*`` keywords, which are
    accepted and are no-ops here (docs/compatibility.md)."""

    worker_shutdown_poll_seconds: float = 0.5
    worker_shutdown_log_every_seconds: float = 60.0
    worker_shutdown_log_grace_seconds: float = 2.0


class PipelineExecutor:
    """Lower-level object behind ``run``: ``execute(params)`` then read ``outputs``.

    Settings: a ``SyncOptions`` object, or its fields as keywords (see
    ``RunnerOptions``: ``overrides``, ``resource_factories`` (default: the Dag's own;
    0.32.4 defaulted to none), ``stall_timeout``, ``grace``, ``clock``, ``progress``
    (the CLI's live display reads the ``RunCore`` trackers), ``check_types``,
    ``slice_spec``); any other keyword is refused.
    """

    def __init__(self, dag: Any, options: SyncOptions | None = None, **keywords: Any) -> None:
        self.options = SyncOptions.build("PipelineExecutor()", options, keywords)
        self.dag = self.options.dag_to_run(dag)
        if self.dag.requires_async_runner:
            raise RunnerMismatchError(
                f"Pipeline '{self.dag.name}' has async steps or AsyncIterator types, so it "
                "must be executed with async_run(): use `await async_run(...)` (or "
                "AsyncPipelineExecutor) instead of run()")
        self.outputs: dict[str, Any] = {}
        self.result: RunResult | None = None

    def execute(self, params: Any) -> RunResult:
        options = self.options
        core = options.core(self.dag, params)
        run = _SyncRun(core, options.guard(), progress=options.ticker(core))
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
    settings = SyncOptions.from_call("run()", overrides, options)
    return PipelineExecutor(dag, settings).execute(params)
