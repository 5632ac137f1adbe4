"""``RunCore``: the run-level rules, shared by every runner.

It knows which steps may start, what each parameter receives, where outputs are
published, what happens to dependents of a failed step, when the run is over and
how it ended. It performs nothing: drivers ask, perform, and report back.

Mutable state (private to this object):

- ``values``: published outputs, keyed by ``Dag.output_key(producer, consumer)``
  (the producer's name when it has one consumer).
- ``launched`` / ``finished``: steps handed to the driver / whose driver work ended.
- ``skipped``: steps that can never run (an input failed under CONTINUE) -> reason.
- ``errored``: steps that recorded at least one error.
- ``trackers``: one ``StepTracker`` per launched step (counts and events).
- ``outputs``: terminal and exported step outputs for ``RunResult.outputs``.
- ``fatal`` / ``fatal_step``: the first error that ends the run, and where it came from.
- ``released``: stream hand-offs (producer, consumer) nobody will read again, for
  the driver to close (``take_released``) so they stop holding back siblings;
  ``released_edges``: every hand-off released so far.
- ``error_materializers`` / ``_materializers``: each step's error materializer and
  materializer as they apply to this run (paths naming params fields filled in),
  made once per run.
- ``keep``: steps of a slice whose output is also reported in ``outputs`` (a
  ``SliceSpec``'s boundary, written to the store by ``synaflow.export.run_slice``).

A run of a slice (``SliceSpec``) treats every step outside it as already finished:
those whose stored output the slice reads count as published with it, the others
as finished without an output (their readers are skipped, as in a whole run).
"""
from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Callable, Iterable

from ..core.constants import PIPELINE_SCOPE
from ..core.exceptions import ParamsError, PipelineStopException, ThresholdExceededException
from ..core.observers import (PipelineCompletedContext, PipelineEvent, PipelineFailedContext,
                              PipelineStartedContext)
from ..core.types import StepMode
from ..core.params_check import checked_params
from ..core.compiler.resource_wiring import factory_arguments
from .effects import Emit
from .result import RunResult, StepStats
from .shapes import shape_value
from .tracker import StepTracker

_NONE_TYPE = type(None)


def params_to_dict(params: Any) -> dict[str, Any]:
    """A NamedTuple, dataclass instance or dict as a field -> value dict."""
    if isinstance(params, dict):
        return dict(params)
    if isinstance(params, tuple) and hasattr(params, "_asdict"):
        return params._asdict()
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    raise TypeError(f"Pipeline params must be a NamedTuple, dataclass or dict, got "
                    f"{type(params).__name__}.")


def for_run(target: Any, params: dict[str, Any]) -> Any:
    """A materializer or error materializer as it applies to one run: one whose path
    names params fields (``"{out_dir}/x"``) gets them filled in; others as they are."""
    bind = getattr(target, "__synaflow_for_run__", None)
    return target if bind is None else bind(params)


def run_params(dag: Any, params: Any) -> dict[str, Any]:
    """The run's params, checked against the Dag's params class (``params_check``):
    unknown keys, missing fields and wrong types fail here, before any step runs."""
    given = params_to_dict(params)
    readers: dict[str, list[str]] = {}
    for name, node in dag.steps.items():
        for producer in node.deps:
            if producer in dag.params:
                readers.setdefault(producer, []).append(name)
    cls = getattr(dag, "params_type", None)
    if cls is not None:
        return checked_params(dag.name, cls, given, readers=readers)
    missing = [field for field in readers if field not in given]
    if missing:  # a Dag built by hand from DagNodes: only the fields steps read are known
        raise ParamsError(dag.name, "the params", unknown=[], missing=missing, problems=[],
                          fields=list(dag.params), readers=readers)
    return given


@dataclass
class ResourceUse:
    """A parameter fed by a resource; ``provider`` is the factory or an override."""

    param: str
    name: str
    provider: Any


@dataclass
class CallPlan:
    """Everything a driver needs to call a step's function.

    ``static``: parameter -> value, identical for every call. ``sources``: the
    iterables unrolled for EACH rows (zip-longest, ``None``-padded), with
    ``source_params[i]`` the (param, attr) pairs fed by source ``i``.
    """

    static: dict[str, Any]
    sources: list[Iterable[Any]]
    source_params: list[list[tuple[str, str | None]]]
    resources: list[ResourceUse]

    def row_kwargs(self, row: tuple) -> dict[str, Any]:
        kwargs = dict(self.static)
        for item, params in zip(row, self.source_params):
            for param, attr in params:
                kwargs[param] = item if attr is None or item is None else getattr(item, attr)
        return kwargs

    def rows(self) -> Iterable[tuple]:
        if len(self.sources) == 1:
            return ((item,) for item in self.sources[0])
        return zip_longest(*self.sources)


def is_output(dag: Any, name: str) -> bool:
    """Is step ``name`` one of a run's outputs (terminal, or the exported step)?"""
    return (not dag.steps[name].consumers and not name.startswith("_")) \
        or name == dag.exports


@dataclass(frozen=True)
class SliceSpec:
    """Run only ``steps`` of the contract (``synaflow.export.run_slice`` builds it).

    ``inputs``: the stored outputs of steps outside the slice, by step name;
    ``keep``: steps of the slice whose output is reported in ``RunResult.outputs``
    besides the terminal and exported ones (those that steps outside the slice read).
    """

    steps: frozenset[str]
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    keep: frozenset[str] = frozenset()


class RunCore:
    """The rules of one run over a compiled Dag (see the module docstring for state)."""

    def __init__(self, dag: Any, params: Any, overrides: Any = None, *,
                 run_id: str | None = None, clock: Callable[[], float] = time.monotonic,
                 resource_factories: dict[str, Any] | None = None,
                 shape: Callable[..., Any] | None = None,
                 slice_spec: SliceSpec | None = None) -> None:
        self.dag = dag
        # ``shape(value, shape_name, default_materializer=...)`` gives a consumer its
        # view of a materialized output. A driver whose values live elsewhere (Ray
        # object refs) passes a function that defers ``shape_value`` to the worker.
        self.shape = shape_value if shape is None else shape
        self.params = run_params(dag, params)
        self.overrides = overrides
        self.run_id = run_id or str(uuid.uuid4())
        self.clock = clock
        self.started_at = clock()
        self.resource_factories = dag.resource_factories if resource_factories is None \
            else resource_factories
        self.values: dict[str, Any] = dict(self.params)
        self.published: set[str] = set()
        self.launched: set[str] = set()
        self.finished: set[str] = set()
        self.skipped: dict[str, str] = {}
        self.errored: set[str] = set()
        self.trackers: dict[str, StepTracker] = {}
        self.outputs: dict[str, Any] = {}
        self.fatal: BaseException | None = None
        self.fatal_step: str | None = None
        self.released: list[tuple[str, str]] = []
        self.released_edges: set[tuple[str, str]] = set()
        self._pipeline_observers = self._resolve_pipeline_observers()
        self.error_materializers = {name: for_run(node.error_materializer, self.params)
                                    for name, node in dag.steps.items()}
        self._materializers: dict[str, Any] = {}
        self.keep: frozenset[str] = frozenset()
        if slice_spec is not None:
            self._enter_slice(slice_spec)

    # -- setup ------------------------------------------------------------------------
    def _enter_slice(self, spec: SliceSpec) -> None:
        self.keep = spec.keep
        for name in self.dag.steps:
            if name not in spec.steps:
                self.launched.add(name)
                self.finished.add(name)
                if name in spec.inputs:
                    self.values[name] = spec.inputs[name]
                    self.published.add(name)

    def _resolve_pipeline_observers(self) -> tuple:
        if self.overrides is None:
            return tuple(self.dag.pipeline_observers)
        return tuple(self.overrides.observers.resolve(PIPELINE_SCOPE,
                                                      list(self.dag.pipeline_observers)))

    def step_observers(self, name: str) -> tuple:
        node = self.dag.steps[name]
        own = [o for o in node.observers if o.source != "pipeline"]
        if self.overrides is not None:
            own = self.overrides.observers.resolve(name, own)
        return self._pipeline_observers + tuple(own)

    def tracker(self, name: str) -> StepTracker:
        t = self.trackers.get(name)
        if t is None:
            node = self.dag.steps[name]
            t = StepTracker(self, node, self.step_observers(name),
                            self.error_materializers[name])
            self.trackers[name] = t
        return t

    # -- pipeline events ------------------------------------------------------------------
    def start(self) -> list:
        for target in self.error_materializers.values():  # e.g. a file in overwrite mode
            started = getattr(target, "__synaflow_run_started__", None)
            if started is not None:
                started(self.run_id)
        return [Emit(self._pipeline_observers, PipelineStartedContext(
            pipeline_name=self.dag.name, run_id=self.run_id, event=PipelineEvent.STARTED,
            scope_step_totals=dict(self.dag.scope_step_totals)))]

    def completed(self) -> list:
        return [Emit(self._pipeline_observers, PipelineCompletedContext(
            pipeline_name=self.dag.name, run_id=self.run_id, event=PipelineEvent.COMPLETED))]

    def failed(self, exc: BaseException) -> list:
        step, shown = self.fatal_step, exc
        if isinstance(exc, PipelineStopException):
            step, shown = exc.step_name, exc.cause if exc.cause is not None else exc
        elif isinstance(exc, ThresholdExceededException):
            step = exc.step_name
        return [Emit(self._pipeline_observers, PipelineFailedContext(
            pipeline_name=self.dag.name, run_id=self.run_id, event=PipelineEvent.FAILED,
            step_name=step, exception=shown))]

    # -- scheduling ----------------------------------------------------------------------
    def set_fatal(self, exc: BaseException, step: str | None) -> BaseException:
        """Record the error that ends the run (the first one wins) and return it."""
        if self.fatal is None:
            self.fatal, self.fatal_step = exc, step
        return self.fatal

    def step_errored(self, name: str) -> None:
        self.errored.add(name)

    def ready_steps(self) -> list[str]:
        """Steps whose step inputs are all published; they count as launched."""
        if self.fatal is not None:
            return []
        ready = []
        for name, node in self.dag.steps.items():
            if name in self.launched or name in self.skipped:
                continue
            blocked = self._blocked_by(node)
            if blocked is not None:
                self._skip(name, f"input '{blocked}' failed or was skipped")
                continue
            if all(d in self.published for d in node.deps if d in self.dag.steps):
                self.launched.add(name)
                ready.append(name)
        return ready

    def _blocked_by(self, node: Any) -> str | None:
        for dep in node.deps:
            if dep in self.skipped or (dep in self.finished and dep not in self.published):
                return dep
        return None

    def _skip(self, name: str, reason: str) -> None:
        self.skipped[name] = reason
        self._release_inputs(name)

    def busy(self, idle: float) -> list[str]:
        """The steps inside a call while nothing progressed for ``idle`` seconds: started,
        not finished, and on which item (for a stall message)."""
        out = []
        for name, tracker in self.trackers.items():
            if not tracker.started or tracker.closed or name in self.finished:
                continue
            node = self.dag.steps[name]
            if node.mode is StepMode.EACH:
                what = f"in a call on item {tracker.success + tracker.errors}"
            elif node.is_stream:
                what = f"producing item {tracker.success}"
            else:
                what = "in its call"
            out.append(f"step '{name}' is busy {what}, with no progress for {idle:.1f} s")
        return out

    def step_finished(self, name: str) -> None:
        """The driver's work for ``name`` ended (published, failed or drained)."""
        self.finished.add(name)
        if not (self._lazy(name) and name in self.published):
            self._release_inputs(name)

    def _lazy(self, name: str) -> bool:
        node = self.dag.steps.get(name)
        return node is not None and node.is_stream and not node.materialize_output

    def _release_inputs(self, name: str) -> None:
        """``name`` will read no more: its lazy inputs are released, and so, upstream,
        are the inputs of lazy producers none of whose readers will read again. A
        consumer that failed or returned before reading its fan-out branch (or never
        started) must not hold back its siblings (0.32.4 hung there; spec 03 §6.2)."""
        todo = [name]
        while todo:
            consumer = todo.pop()
            for dep in self.dag.steps[consumer].deps:
                edge = (dep, consumer)
                if not self._lazy(dep) or edge in self.released_edges:
                    continue
                self.released_edges.add(edge)
                self.released.append(edge)
                if all((dep, c) in self.released_edges for c in self.dag.steps[dep].consumers):
                    todo.append(dep)

    def take_released(self) -> list[tuple[str, str]]:
        """Hand-offs released since the last call; the driver closes those branches."""
        released, self.released = self.released, []
        return released

    def all_done(self) -> bool:
        if self.fatal is not None:
            return True
        self.ready_steps_pending = [n for n in self.dag.steps
                                    if n not in self.finished and n not in self.skipped]
        return not self.ready_steps_pending

    # -- inputs ----------------------------------------------------------------------------
    def value_for(self, producer: str, consumer: str) -> Any:
        key = self.dag.output_key(producer, consumer)
        value = self.values[key] if key in self.values else self.values[producer]
        node = self.dag.steps.get(producer)
        if node is not None and node.materialize_output:
            materializer, collects = self.materialization(producer)
            if materializer is None and not node.is_stream:
                return value  # a plain value reaches every consumer as itself (0.32.4)
            shape = node.shape_for(consumer)
            try:
                return self.shape(value, shape, default_materializer=collects
                                  or materializer is None,
                                  **self._reshape_hook(producer, consumer))
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"Pipeline '{self.dag.name}', step '{consumer}': cannot give it the items "
                    f"of '{producer}' as a {shape}: {exc}. Fix: annotate the parameter with "
                    f"the collection the items fit (e.g. list[...]), or make '{producer}' "
                    "yield (key, value) pairs for a dict") from exc
        return value

    def _reshape_hook(self, producer: str, consumer: str) -> dict[str, Any]:
        """Keywords for ``shape`` when the materializer shapes its own result per consumer.

        Empty for every materializer without ``__synaflow_reshape__`` (see
        ``engine.shapes.shape_value``), so other ``shape`` functions need not know it.
        """
        reshape = getattr(self.materializer(producer), "__synaflow_reshape__", None)
        if reshape is None:
            return {}
        consumer_node = self.dag.steps.get(consumer)
        declared = consumer_node.deps.get(producer) if consumer_node is not None else None
        return {"reshape": reshape, "declared_type": declared}

    def call_plan(self, name: str) -> CallPlan:
        """Values for every parameter of ``name`` (resources are provided by the driver)."""
        node = self.dag.steps[name]
        static: dict[str, Any] = {}
        resources: list[ResourceUse] = []
        by_source: dict[str, list[tuple[str, str | None]]] = {}
        for b in node.bindings:
            if b.producer in self.resource_factories or b.producer in self.dag.resource_types:
                resources.append(ResourceUse(b.param, b.producer, self.provider(b.producer)))
            elif b.producer in node.each_mode_deps:
                by_source.setdefault(b.producer, []).append((b.param, b.attr))
            else:
                value = self._value(b.producer, name)
                static[b.param] = getattr(value, b.attr) if b.attr else value
        sources = [self._iterable(self._value(p, name)) for p in node.each_mode_deps]
        return CallPlan(static, sources, [by_source[p] for p in node.each_mode_deps], resources)

    def _value(self, producer: str, consumer: str) -> Any:
        if producer in self.dag.steps:
            return self.value_for(producer, consumer)
        return self.params[producer]

    @staticmethod
    def _iterable(value: Any) -> Iterable[Any]:
        return () if value is None else value

    def provider(self, resource: str) -> Any:
        factory = self.resource_factories.get(resource)
        if self.overrides is not None:
            factory = self.overrides.resources.resolve(resource, factory)
        if factory is None:
            raise ValueError(f"Pipeline '{self.dag.name}' requires resource '{resource}' at "
                             "runtime, but no factory or override provides it")
        wired = self.dag.resource_params.get(resource)
        if wired and factory is self.dag.resource_factories.get(resource):
            # the declared factory reads params fields (wired at build time)
            return functools.partial(factory, **factory_arguments(wired, self.params))
        return factory

    def sized_total(self, name: str) -> int | None:
        total = 0
        for b in self.dag.steps[name].bindings:
            try:
                total += len(self._value(b.producer, name))
            except Exception:
                return None
        return total

    def materializer(self, name: str) -> Any:
        if name not in self._materializers:
            chosen = self.dag.steps[name].materializer
            if self.overrides is not None:
                chosen = self.overrides.materializers.resolve(name, chosen)
            self._materializers[name] = for_run(chosen, self.params)
        return self._materializers[name]

    def materialization(self, name: str) -> tuple[Any, bool]:
        """``(materializer, collects)`` for ``name``'s materialized output in this run.

        ``materializer``: the override, else the compiled one (None: there is none).
        ``collects``: it is the compiled built-in memory materializer, which only
        collects, so every consumer gets its own shape of the collection. Any other
        materializer, an override included (even of a step that had only the
        default), makes one result that every consumer receives (0.32.4)."""
        node = self.dag.steps[name]
        overridden = self.overrides is not None \
            and self.overrides.materializers.is_overridden(name)
        return self.materializer(name), node.default_materializer and not overridden

    # -- outputs ---------------------------------------------------------------------------
    def publish(self, name: str, value: Any) -> None:
        """Make ``value`` the output every consumer of ``name`` reads."""
        self.values[name] = value
        self.published.add(name)
        if is_output(self.dag, name) or name in self.keep:
            self.outputs[name] = value

    def publish_branches(self, name: str, branches: dict[str, Any]) -> None:
        """One value per consumer (fan-out branches)."""
        for consumer, value in branches.items():
            self.values[self.dag.output_key(name, consumer)] = value
        self.published.add(name)

    def keeps_terminal_items(self, name: str) -> bool:
        """A drained terminal stream keeps its items only if it declares what it returns."""
        node = self.dag.steps[name]
        out = node.output
        item = getattr(out, "item_type", out) if node.mode is StepMode.EACH else out
        return name == self.dag.exports or node.force_materialize or (
            node.mode is StepMode.EACH and item is not None and item is not _NONE_TYPE)

    # -- the end ------------------------------------------------------------------------------
    def result(self) -> RunResult:
        steps = {name: self._stats(name) for name in self.dag.steps}
        ok = not self.errored and not self.skipped
        return RunResult(pipeline_name=self.dag.name, run_id=self.run_id,
                         status="succeeded" if ok else "completed_with_errors",
                         outputs=dict(self.outputs), steps=steps,
                         wall_time_s=self.clock() - self.started_at, all_outputs=self.values)

    def _stats(self, name: str) -> StepStats:
        if name in self.skipped:
            return StepStats("skipped", reason=self.skipped[name])
        t = self.trackers.get(name)
        if t is None:
            return StepStats("not_run")
        status = "error" if name in self.errored else "ok"
        rows = t.success + t.errors if t.is_each else (1 if not t.node.is_stream else t.success)
        return StepStats(status, items_in=rows, items_out=t.success, errors=t.errors)
