"""Stages: one step of a Ray run, seen from the driver.

A stage submits work, reacts to what comes back and reports it to the step's
``StepTracker`` exactly where the synchronous runner would (``LocalStep`` is the
reference), so the rules, events and error policy come from ``synaflow.engine``.

- ``ValueStage``: an ALL step with no stream input, one task.
- ``ActorStage`` (``actor_stage.py``): an ALL step that is a generator or reads
  streams; runs in a ``StepWorker`` actor, pulled with ``next_batch``, fed with
  ``push``.
- ``EachStage`` (``each_stage.py``): an EACH step, micro-batched tasks or replicas.

Stream outputs go to a sink: a ``ChannelOut`` for lazy consumers, or a
``CollectOut`` whose slices are collected (materialized) or drained (terminal).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..engine.effects import perform
from ..engine.publication import consumer_type, publication_route
from .connect import retry_classes
from .refs import Remote
from .streams import ChannelOut, CollectOut
from .calls import CallOutcome, NodeView, StepSpec, pack
from .worker import call_value, call_value_opening, collect


class TerminalItems:
    """A drained terminal stream's items, still in the object store (read at the end)."""

    def __init__(self, slices: list) -> None:
        self.slices = slices


class Pending(NamedTuple):
    """A call the run waits for: its result goes to ``callback(result, data)`` of
    ``stage`` (its failure to ``stage.failed``). A call to a stage's actor carries the
    ``epoch`` of that actor: once the actor was replaced, the call is stale and its
    result or failure is dropped."""

    stage: Any
    callback: Callable[[Any, Any], None]
    data: Any = None
    epoch: int | None = None

    def stale(self) -> bool:
        """Nobody reads this call's outcome any more."""
        return self.stage.done or (self.epoch is not None and self.epoch != self.stage.epoch)


class Stage:
    """Common state: the run, the step's node and tracker, pending refs, the end."""

    def __init__(self, run: Any, name: str, plan: Any) -> None:
        self.run = run
        self.core = run.core
        self.t = run.transport
        self.name = name
        self.node = run.core.dag.steps[name]
        self.tracker = run.core.tracker(name)
        self.plan = plan
        self.options = run.opts.of(name)
        self.label = f"{run.core.dag.name}.{name}"
        self.slot = f"{run.core.run_id}:{name}"
        self.done = False
        self.halted = False
        # Resources made where the step runs (stages with resources wait for their
        # workers to confirm before they report STARTED or let their streams be read).
        self.opened = True
        self.box: tuple | None = None

    # -- plumbing -------------------------------------------------------------------------
    def expect(self, ref: Any, callback: Callable[[Any, Any], None], data: Any = None, *,
               epoch: int | None = None) -> None:
        """Call ``callback(result, data)`` once ``ref`` is ready (``failed`` if the call
        failed); ``epoch``: the incarnation of this stage's actor the call went to."""
        self.run.expect(ref, Pending(self, callback, data, epoch))

    def spec(self, inline: bool = False, **extra: Any) -> tuple:
        """This stage's ``StepSpec``: stored once (workers cache it by ``slot``), or sent
        along with the one call of a stage that calls once (``inline``)."""
        node = self.node
        view = NodeView(node.name, node.is_stream, node.output_contract,
                        None if node.output is None else True)
        materializer, collects = self.core.materialization(self.name) \
            if node.materialize_output else (None, False)
        retry_on = retry_classes(self.options.get("retry_exceptions"))
        spec = StepSpec(key=self.slot, node=view, fn=node.fn, static=extra.pop("static"),
                        materializer=materializer, collected_default=collects,
                        ship_errors=self.run.ships_errors, retry_on=retry_on,
                        inline_max=self.run.inline_max(self.name, materializer),
                        pipeline=self.core.dag.name, **extra)
        holder = spec if inline else [self.t.put(spec, f"step:{self.name}")]
        # Ray retries only on Ray; the final attempt (``final_box``) reports instead.
        self.box = (self.slot, holder, bool(retry_on) and not self.t.debug)
        self.final_box = (self.slot, holder, False)
        return self.box

    def retries_exhausted(self, exc: BaseException) -> BaseException | None:
        """The step's own exception, when Ray gave up retrying it (``retry_exceptions``)."""
        cause = getattr(exc, "cause", None)
        if self.box is not None and self.box[2] and isinstance(cause, BaseException):
            return cause
        return None

    def task_options(self) -> dict[str, Any]:
        return self.run.opts.task(self.name)

    def new_actor(self, replica: int, *, near: bool = False) -> tuple[Any, str | None]:
        """A ``StepWorker`` for this stage (pooled, or dedicated when it has options)."""
        opts = self.run.opts
        return self.t.actor(opts.actor(self.name), opts.actor_name(self.name, replica),
                            near=near)

    def pump(self) -> bool:
        return False

    def finish(self) -> None:
        self.done = True

    def abort(self) -> None:
        """The run is ending (fatal error, Ctrl-C): stop remote work at once."""
        self.done = True

    def call_started(self) -> None:
        """Report STARTED for the step's call, as LocalStep and AsyncLocalStep do; a
        generator reports it with its first items instead."""
        if not self.node.fn_kind.endswith("generator"):
            perform(self.tracker.start())

    def halt(self) -> None:
        """Stop this stage's calls where they run (``stopping``), once. Never
        ``ray.cancel``: it can abort Ray 2.60's driver when a task ends meanwhile."""
        if not self.halted:
            self.halted = True
            self.t.stop(self.slot)

    def blocked(self) -> str:
        return f"step '{self.name}' is waiting"

    def upstream_failed(self, exc: BaseException) -> None:
        """A stream this step reads ended with a fatal error."""

    def failed(self, exc: BaseException, pending: Pending | None) -> None:
        """A call failed below the step's code (worker, actor or node lost) and Ray's
        own retries did not help: the run ends, unless the stage can recover."""
        self.core.set_fatal(exc, self.name)

    # -- shared protocols (mirroring LocalStep) -------------------------------------------
    def _mat_label(self) -> tuple[Any, str | None]:
        materializer = self.core.materializer(self.name)
        label = getattr(materializer, "__name__", None) if materializer is not None else None
        return consumer_type(self.core, self.node), label

    def value_result(self, meta: Any, data_ref: Any) -> None:
        """A value call came back: completed, failed, materialized, published."""
        self.finish()
        if meta.setup_error is not None:
            self.core.set_fatal(meta.setup_error, None)
            return
        if meta.error is not None:
            perform(self.tracker.call_failed(meta.error)[0])
            return
        perform(self.tracker.value_done(None, count=meta.count))
        if self.node.materialize_output:
            ctype, label = self._mat_label()
            perform(self.tracker.materialization_started(ctype, label))
            if meta.mat_error is not None:
                perform(self.tracker.materialization_failed(meta.mat_error, ctype, label)[0])
                return
            perform(self.tracker.materialization_completed(ctype, label))
        self.run.publish_value(self.name, Remote(data_ref), meta)


class StreamStage(Stage):
    """A stage whose output is a stream: picks and drives the sink."""

    def open_sink(self) -> None:
        node = self.node
        self.route = publication_route(node)
        if self.route == "materialize":
            self.sink: Any = CollectOut(self._collect)
        elif self.route == "drain":
            self.keep = self.core.keeps_terminal_items(self.name)
            self.sink = CollectOut(self._drained)
        else:
            self.sink = ChannelOut(self.name, list(node.consumers), node.max_in_flight,
                                   node.max_in_flight_bytes)
            self.sink.publish(self.core, self.name)
            self.run.channels.append(self.sink)

    def materialization_started(self) -> None:
        if self.route == "materialize":
            perform(self.tracker.materialization_started(*self._mat_label()))

    def stream_over(self, effects: list, fatal: BaseException | None) -> None:
        """The producer ended (normally, with an error, or under a fatal policy)."""
        perform(effects)
        if fatal is not None:
            if self.route == "materialize":
                perform(self.tracker.materialization_failed(fatal, *self._mat_label())[0])
            self.sink.fail(fatal)
            self.finish()
            if isinstance(self.sink, ChannelOut):
                self.run.propagate(self.name, fatal)
            return
        self.sink.end()
        if isinstance(self.sink, ChannelOut):
            self.finish()

    def _collect(self, slices: list) -> None:
        submit = self.t.task(collect, self.task_options(), self.name)
        bounds, refs = pack([slices])
        meta_ref, data_ref = submit(self.box, bounds, *refs)
        self.expect(meta_ref, self._collected, data_ref)

    def _collected(self, meta: Any, data_ref: Any) -> None:
        self.finish()
        if meta.setup_error is not None:  # the collection cannot be stored (objects.place)
            self.core.set_fatal(meta.setup_error, self.name)
            return
        ctype, label = self._mat_label()
        if meta.mat_error is not None:
            perform(self.tracker.materialization_failed(meta.mat_error, ctype, label)[0])
            return
        perform(self.tracker.materialization_completed(ctype, label))
        self.run.publish_value(self.name, Remote(data_ref), meta)

    def _drained(self, slices: list) -> None:
        self.core.publish(self.name, TerminalItems(slices) if self.keep else None)
        self.finish()


class ValueStage(Stage):
    """An ALL step without stream inputs: one task, ``(meta, value)`` back."""

    def start(self) -> None:
        box = self.spec(inline=True, static=dict(self.plan.static),
                        resources=self.plan.resources)
        if self.plan.resources and self.t.streams:  # STARTED once the worker made them
            submit = self.t.streamed_task(call_value_opening, self.task_options(), self.name)
            self.handle = submit(box, None)
            self.expect(self.handle, self._opening, 0)
            return
        self.call_started()
        submit = self.t.task(call_value, self.task_options(), self.name)
        meta_ref, data_ref = submit(box, None)
        self.expect(meta_ref, self.value_result, data_ref)

    def _opening(self, ref: Any, item: int) -> None:
        """The objects of ``call_value_opening``: None once the resources exist (or
        the ``CallOutcome`` of a factory that raised), then the ``CallOutcome``, then the
        value's ref, which stays unread here."""
        if item == 2:
            self.value_result(self.meta, ref)
            return
        try:
            value = self.t.get([ref])[0]
        except Exception as exc:  # failed below the step's code, or Ray's retries ran out
            self.failed(exc, None)
            return
        if item == 0 and value is None:
            self.call_started()
        elif item == 0:
            self.value_result(value, None)
            return
        else:
            self.meta = value
        self.expect(self.handle, self._opening, item + 1)

    def abort(self) -> None:
        if not self.done:
            self.halt()
        self.done = True

    def failed(self, exc: BaseException, pending: Pending | None) -> None:
        cause = self.retries_exhausted(exc)
        if cause is None:
            super().failed(exc, pending)
            return
        meta = CallOutcome()
        meta.error = cause
        self.value_result(meta, None)
