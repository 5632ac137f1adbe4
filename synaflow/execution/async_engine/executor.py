"""``async_run`` / ``AsyncPipelineExecutor``: the asyncio runner.

Async pipelines run one task per step, pulling async streams through bounded
branches. Synchronous pipelines run on the synchronous engine in a worker thread,
off the event loop, so blocking steps never stall it and both runners share one
behaviour.

    >>> import asyncio
    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> async def half(n: int) -> float:
    ...     return n / 2
    >>> asyncio.run(async_run(pipeline(name="h", params=P, steps=[step("half", fn=half)]),
    ...                       P(3))).outputs
    {'half': 1.5}
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from ...core.exceptions import FanoutStreamClosedError, StallError
from ...engine.core import RunCore
from ...engine.effects import perform_async
from ...engine.options import RunnerOptions
from ...engine.result import RunResult
from ...engine.stall import StallGuard
from ..async_steps import AsyncLocalStep
from ..sync_engine.executor import PipelineExecutor, SyncOptions

_TICK = 0.05


class AsyncPipelineExecutor:
    """Lower-level object behind ``async_run``: ``await execute(params)``, then ``outputs``.

    Settings: a ``RunnerOptions`` object, or its fields as keywords."""

    def __init__(self, dag: Any, options: RunnerOptions | None = None,
                 **keywords: Any) -> None:
        self.options = RunnerOptions.build("AsyncPipelineExecutor()", options, keywords)
        self.dag = self.options.dag_to_run(dag)
        self.outputs: dict[str, Any] = {}
        self.result: RunResult | None = None

    async def execute(self, params: Any) -> RunResult:
        if not self.dag.requires_async_runner:
            # (the Dag is checked already, when check_types asked for it)
            executor = PipelineExecutor(self.dag, SyncOptions(**{**self.options.settings(),
                                                                 "check_types": False}))
            try:
                self.result = await asyncio.to_thread(executor.execute, params)
            finally:
                self.outputs = executor.outputs
            return self.result
        options = self.options
        core = options.core(self.dag, params)
        try:
            self.result = await _AsyncRun(core, options.guard(), options.ticker(core)).run()
        finally:
            self.outputs = core.values
        return self.result


class _AsyncRun:
    """One asyncio run: a task per step, a wait loop, bounded cleanup."""

    def __init__(self, core: RunCore, guard: StallGuard,
                 progress: Callable[[], None] = lambda: None) -> None:
        self.core = core
        self.guard = guard
        self.progress = progress
        self.tasks: dict[asyncio.Task, str] = {}
        self.channels: list = []

    async def run(self) -> RunResult:
        core = self.core
        await perform_async(core.start())
        self._launch()
        while not core.all_done():
            self.progress()
            done, _ = await asyncio.wait(list(self.tasks), timeout=_TICK,
                                         return_when=asyncio.FIRST_COMPLETED) \
                if self.tasks else (set(), set())
            if not done:
                self._check_stall()
            for task in done:
                core.step_finished(self.tasks.pop(task))
            self._launch()
        if core.fatal is not None:
            return await self._fail(core.fatal)
        await self._close_channels()
        await perform_async(core.completed())
        return core.result()

    def _launch(self) -> None:
        for name in self.core.ready_steps():
            task = asyncio.ensure_future(self._work(name))
            self.tasks[task] = name
        # A consumer that will read no more must not hold back its fan-out siblings;
        # waiters poll the state every tick, so no notify is needed here.
        for producer, consumer in self.core.take_released():
            for channel in self.channels:
                state = getattr(channel, "state", None)
                if state is not None and state.producer == producer \
                        and consumer in state.buffers:
                    state.close(consumer)

    async def _work(self, name: str) -> None:
        try:
            await AsyncLocalStep(self.core, name, guard=self.guard, channels=self.channels).run()
        except BaseException as exc:
            self.core.set_fatal(self.core.fatal or exc, name)
            if not isinstance(exc, Exception):
                raise

    def _check_stall(self) -> None:
        active = sum(1 for t in self.tasks if not t.done())
        message = self.guard.check(active, self.core.busy)
        if message is not None:
            self.core.set_fatal(StallError(f"Pipeline '{self.core.dag.name}': {message}"), None)

    async def _fail(self, exc: BaseException) -> RunResult:
        for channel in self.channels:
            if hasattr(channel, "abort"):
                channel.abort(exc)
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            # Bounded for real: asyncio.wait never waits past its timeout, unlike the
            # wait_for(gather(...)) cleanup that hung 0.32.4 on Python 3.11.
            await asyncio.wait(list(self.tasks), timeout=1.0)
        await self._close_channels()
        await perform_async(self.core.failed(exc))
        raise exc

    async def _close_channels(self) -> None:
        for channel in self.channels:
            if hasattr(channel, "abort"):
                if not channel.finished:
                    channel.abort(FanoutStreamClosedError(
                        f"stream '{channel.state.producer}' was not fully consumed"))
            elif hasattr(channel, "aclose"):
                try:
                    await asyncio.wait_for(channel.aclose(), 1.0)
                except BaseException:
                    pass


async def async_run(dag: Any, params: Any, overrides: Any = None, **options: Any) -> RunResult:
    """Run a pipeline (or its Dag) on asyncio and return a ``RunResult``.

    Works for async pipelines and for plain synchronous ones (run off the event loop).
    """
    settings = RunnerOptions.from_call("async_run()", overrides, options)
    return await AsyncPipelineExecutor(dag, settings).execute(params)
