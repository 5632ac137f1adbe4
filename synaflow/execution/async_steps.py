"""One step of an asyncio run, from inputs to publication (async pipelines)."""
from __future__ import annotations

from typing import Any

from ..core.types import StepMode
from ..engine.effects import perform_async
from ..engine.publication import check_output_kind, consumer_type, publication_route
from ..engine.resources import AsyncResources, maybe_await as _maybe_await
from .async_handoff import AsyncFanout, each_rows_async, track_stream_async
from .local_steps import _FAILED, StepRun


async def _collect(stream: Any) -> list:
    return [item async for item in stream]


class AsyncLocalStep(StepRun):
    """Runs one step of an async pipeline in the current task and publishes its output."""

    async def run(self) -> None:
        try:
            plan = self.core.call_plan(self.name)
            resources = await AsyncResources().open(plan, self.node.mode)
        except Exception as exc:
            self.core.set_fatal(exc, None)
            return
        plan.static.update(resources.values)
        if self.node.mode is StepMode.EACH:
            call = resources.row_call(self.node.fn, plan)
            await self._publish_stream(each_rows_async(self.tracker, self.node.fn, plan, call,
                                                       on_close=resources.close))
        else:
            await self._call_all(plan, resources)

    async def _call_all(self, plan: Any, resources: AsyncResources) -> None:
        node = self.node
        if node.fn_kind != "async_generator":
            await perform_async(self.tracker.start())
        try:
            value = await _maybe_await(node.fn(**plan.static))
            check_output_kind(node, value)
        except Exception as exc:
            await resources.close()
            effects, _ = self.tracker.call_failed(exc)
            await perform_async(effects)
            return
        if node.is_stream:
            await self._publish_stream(track_stream_async(self.tracker, value,
                                                          on_close=resources.close))
            return
        await resources.close()
        await perform_async(self.tracker.value_done(value))
        if node.materialize_output:
            value = await self._materialize(value, stream=False)
            if value is _FAILED:
                return
        self.core.publish(self.name, value)

    async def _publish_stream(self, stream: Any) -> None:
        node = self.node
        route = publication_route(node)
        if route == "materialize":
            value = await self._materialize(stream, stream=True)
            if value is not _FAILED:
                self.core.publish(self.name, value)
            return
        if route == "drain":
            await self._drain(stream)
            return
        self.channels.append(stream)
        if route == "fanout" and len(node.consumers) > 1:
            fan = AsyncFanout(stream, node.max_in_flight, list(node.consumers),
                              producer=self.name, guard=self.guard,
                              max_bytes=node.max_in_flight_bytes)
            self.channels.append(fan)
            self.core.publish_branches(self.name, {c: fan.lazy_iterator(c)
                                                   for c in node.consumers})
        else:
            self.core.publish(self.name, stream)

    async def _drain(self, stream: Any) -> None:
        try:
            if self.core.keeps_terminal_items(self.name):
                self.core.publish(self.name, await _collect(stream))
            else:
                async for _ in stream:
                    pass
                self.core.publish(self.name, None)
        except BaseException as exc:
            self.core.set_fatal(exc, self.name)

    async def _materialize(self, source: Any, *, stream: bool) -> Any:
        materializer, collects = self.core.materialization(self.name)
        ctype = consumer_type(self.core, self.node)
        label = getattr(materializer, "__name__", None) if materializer is not None else None
        await perform_async(self.tracker.materialization_started(ctype, label))
        try:
            if stream and (materializer is None or collects):
                value = await _collect(source)
            elif materializer is not None:
                value = await _maybe_await(materializer(source))
            else:
                value = source
        except Exception as exc:
            effects, _ = self.tracker.materialization_failed(exc, ctype, label)
            await perform_async(effects)
            return _FAILED
        await perform_async(self.tracker.materialization_completed(ctype, label))
        return value
