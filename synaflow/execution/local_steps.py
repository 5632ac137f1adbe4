"""One step of an in-process run, from inputs to publication (the sync transport).

Used by the synchronous runner directly and, for synchronous pipelines, by the
asyncio runner (in a worker thread), so both share these exact semantics.
"""
from __future__ import annotations

from typing import Any

from ..core.types import StepMode
from ..engine.effects import perform
from ..engine.publication import check_output_kind, consumer_type, publication_route
from ..engine.resources import Resources
from .sync_handoff import SyncFanout, bounded, each_rows, track_stream


class StepRun:
    """What running one step needs: the core, its node and tracker, the run's channels."""

    def __init__(self, core: Any, name: str, *, guard: Any, channels: list) -> None:
        self.core = core
        self.name = name
        self.node = core.dag.steps[name]
        self.tracker = core.tracker(name)
        self.guard = guard
        self.channels = channels


class LocalStep(StepRun):
    """Runs one step inside the calling thread and publishes its output."""

    def run(self) -> None:
        """Prepare inputs (a failure here is fatal), then call and publish."""
        try:
            plan = self.core.call_plan(self.name)
            resources = Resources(plan, self.node.mode)
        except BaseException as exc:
            self.core.set_fatal(exc, None)
            return
        plan.static.update(resources.values)
        if self.node.mode is StepMode.EACH:
            call = resources.row_call(self.node.fn, plan)
            self._publish_stream(each_rows(self.tracker, self.node.fn, plan, call,
                                           on_close=resources.close))
        else:
            self._call_all(plan, resources)

    def _call_all(self, plan: Any, resources: Resources) -> None:
        node = self.node
        if node.fn_kind == "sync":
            perform(self.tracker.start())
        try:
            value = node.fn(**plan.static)
            check_output_kind(node, value)
        except Exception as exc:
            resources.close()
            self._fail(exc)
            return
        if node.is_stream:
            self._publish_stream(track_stream(self.tracker, value, on_close=resources.close))
            return
        resources.close()
        perform(self.tracker.value_done(value))
        if node.materialize_output:
            value = self._materialize(value, collected=False)
            if value is _FAILED:
                return
        self.core.publish(self.name, value)

    def _fail(self, exc: BaseException) -> None:
        effects, fatal = self.tracker.call_failed(exc)
        perform(effects)

    def _publish_stream(self, stream: Any) -> None:
        node = self.node
        route = publication_route(node)
        if route == "materialize":
            value = self._materialize(stream, collected=True)
            if value is not _FAILED:
                self.core.publish(self.name, value)
        elif route == "drain":
            self._drain(stream)
        elif route == "fanout":
            fan = SyncFanout(stream, node.max_in_flight, list(node.consumers),
                             producer=self.name, guard=self.guard,
                             max_bytes=node.max_in_flight_bytes)
            self.channels.append(fan)
            self.core.publish_branches(self.name, {c: fan.lazy_iterator(c)
                                                   for c in node.consumers})
        elif route == "bounded":
            self.core.publish(self.name, bounded(stream, node.max_in_flight,
                                                 node.max_in_flight_bytes))
        else:
            self.core.publish(self.name, stream)
        self.channels.append(stream)

    def _drain(self, stream: Any) -> None:
        try:
            if self.core.keeps_terminal_items(self.name):
                self.core.publish(self.name, list(stream))
            else:
                for _ in stream:
                    pass
                self.core.publish(self.name, None)
        except BaseException as exc:
            self.core.set_fatal(exc, self.name)

    def _materialize(self, source: Any, *, collected: bool) -> Any:
        """Collect (streams) and apply the materializer, with materialization events."""
        name = self.name
        materializer, collects = self.core.materialization(name)
        consumer_type = _consumer_type(self.core, self.node)
        label = getattr(materializer, "__name__", None) if materializer is not None else None
        perform(self.tracker.materialization_started(consumer_type, label))
        try:
            # A materializer that reads streams (``__synaflow_streams__``, e.g. Arrow's)
            # gets the stream itself, so it never has to hold all of it at once.
            streams = collected and getattr(materializer, "__synaflow_streams__", False)
            value = list(source) if collected and not streams else source
            if materializer is not None and not (collected and collects):
                value = materializer(value)
        except Exception as exc:
            effects, fatal = self.tracker.materialization_failed(exc, consumer_type, label)
            perform(effects)
            return _FAILED
        perform(self.tracker.materialization_completed(consumer_type, label))
        return value


_FAILED = object()
_consumer_type = consumer_type
