"""``ray_run`` / ``RayPipelineExecutor``: the third driver of the one engine.

The loop asks ``RunCore`` which steps may start, starts a stage for each, lets the
stages move refs between each other, and waits on the refs they submitted
(``fetch_local=False``: data stays in the object store). Observers and error
materializers run here, in the driver, with the same context objects as in any
other runner.

    >>> from synaflow.distributed import ray_run            # doctest: +SKIP
    >>> result = ray_run(pipe, params, debug=True)          # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Callable

from ..core.exceptions import StallError
from ..core.types import StepMode
from ..engine.core import RunCore
from ..engine.effects import perform
from ..engine.options import RunnerOptions
from ..engine.result import RunResult
from ..engine.stall import StallGuard
from . import connect as conn
from .aio import core_class
from .each_stage import EachStage
from .imports import check_importable
from .lifetime import Lifetimes
from .objects import DEFAULT_OBJECT_STORE_THRESHOLD, check_threshold
from .outputs import resolve_outputs
from .refs import Remote, defer_shape
from .actor_stage import ActorStage
from .stages import Pending, ValueStage
from .streams import StreamIn
from .transport import LocalTransport, RayTransport

_TICK = 0.05


@dataclasses.dataclass(frozen=True)
class RayOptions(RunnerOptions):
    """The Ray runner's settings: ``RunnerOptions`` and

    ``address`` (a running cluster; default: ``RAY_ADDRESS``, else an embedded local
    Ray started and stopped around the run unless Ray is already initialised),
    ``debug`` (``True``: in-process, no Ray; ``"serialize"``: also round-trip every
    value through Ray's serializer), ``step_options`` (per-step Ray options for this
    run, over the ones in the contract), ``ray_init`` (extra ``ray.init`` keyword
    arguments), ``object_store_threshold`` (bytes, default 1 MiB: value outputs this
    large stay in the object store and are read zero-copy; smaller ones come back
    inline; a step's ``ray={"object_store_threshold": ...}`` overrides it, see
    ``objects.py``), ``connect_timeout_s`` (joining a cluster fails after this long).
    ``check_types`` is on by default in the debug modes.
    """

    check_types: bool | None = None
    address: str | None = None
    debug: bool | str = False
    step_options: dict[str, dict[str, Any]] | None = None
    ray_init: dict[str, Any] | None = None
    object_store_threshold: int = DEFAULT_OBJECT_STORE_THRESHOLD
    connect_timeout_s: float = conn.DEFAULT_CONNECT_TIMEOUT_S

    def checks_types_by_default(self) -> bool:
        return self.debug in (True, "serialize")


class RayPipelineExecutor:
    """Lower-level object behind ``ray_run``: ``execute(params)``, then ``outputs``.

    Settings: a ``RayOptions`` object, or its fields as keywords.
    """

    def __init__(self, dag: Any, options: RayOptions | None = None, **keywords: Any) -> None:
        o = RayOptions.build("RayPipelineExecutor()", options, keywords)
        self.dag = o.dag_to_run(dag)
        timeout = o.connect_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"connect_timeout_s must be a number of seconds > 0, got "
                             f"{timeout!r}")
        threshold = check_threshold(o.object_store_threshold, self.dag.name)
        if o.debug not in (False, True, "serialize"):
            raise ValueError(f"debug must be False, True or 'serialize', got {o.debug!r}")
        self.options = dataclasses.replace(o, connect_timeout_s=float(timeout),
                                           object_store_threshold=threshold)
        self.step_options = conn.merged_options(self.dag, o.step_options)
        self.result: RunResult | None = None
        self._values: Mapping[str, Any] = {}
        # Largest number of items that waited in each producer's hand-off (emitted,
        # not yet taken by a consumer): never above the step's max_in_flight.
        self.handoff_peaks: dict[str, int] = {}
        # Chains of EACH steps that ran fused, one task per batch (``each_stage.py``).
        self.fused: list[tuple[str, ...]] = []
        # The same in bytes (as the workers measured them), for steps with a byte
        # bound: never above max_in_flight_bytes, unless one item alone is bigger.
        self.handoff_peak_bytes: dict[str, int] = {}

    @property
    def outputs(self) -> Mapping[str, Any]:
        """Params and published outputs by state key, read from the store on access."""
        return self._values

    def execute(self, params: Any) -> RunResult:
        o = self.options
        # An async pipeline's observers and error materializers are awaited on the loop.
        core = o.core(self.dag, params, core_class(self.dag), shape=defer_shape)
        started = False
        if o.debug:
            transport: Any = LocalTransport(serialize=o.debug == "serialize",
                                            pipeline=self.dag.name)
        else:
            started = conn.connect(o.address, o.ray_init, o.connect_timeout_s)
            transport = RayTransport(pipeline=self.dag.name)
        try:
            if o.debug != True:  # noqa: E712 - plain debug mode never serialises
                check_importable(self.dag.name, conn.check_serialisable(core),
                                 self.step_options, on_ray=not o.debug,
                                 job_env=(o.ray_init or {}).get("runtime_env"))
            if not o.debug and any(map(conn.demand, self.step_options.values())):
                # a step no node can run would wait forever (asking costs a round trip)
                conn.check_resources(self.dag.name, self.step_options, transport.nodes())
            run = _RayRun(core, transport, o.guard(), self.step_options,
                          threshold=o.object_store_threshold, progress=o.ticker(core))
            self.result = None
            try:
                self.result = run.run()
            finally:
                self._values = run.lifetimes.run_over() if self.result is None \
                    else self.result.all_outputs
                self.handoff_peaks = {c.state.producer: c.state.peak for c in run.channels}
                self.fused = list(run.fused)
                self.handoff_peak_bytes = {c.state.producer: c.state.peak_bytes
                                           for c in run.channels}
        finally:
            transport.close()
            if started:
                import ray
                ray.shutdown()
        return self.result


class _RayRun:
    """One run: stages, the refs they wait for, the loop."""

    def __init__(self, core: RunCore, transport: Any, guard: StallGuard,
                 options: dict[str, dict[str, Any]], *,
                 threshold: int = DEFAULT_OBJECT_STORE_THRESHOLD,
                 progress: Callable[[], None] = lambda: None) -> None:
        self.core = core
        self.progress = progress
        self.threshold = threshold
        self.lifetimes = Lifetimes(self)
        self.transport = transport
        self.guard = guard
        self.options = options
        self.stages: dict[str, Any] = {}
        self.fused: list[tuple[str, ...]] = []  # chains of EACH steps run in one task
        self.pending: dict[Any, Pending] = {}
        self.channels: list = []
        self.value_info: dict[int, Any] = {}
        self.opts = conn.RunOptions(core.dag.name, core.run_id, options, transport.cpus)
        # In the plain debug mode nothing crosses a process boundary: a step's
        # exception reaches the driver as raised (with its live traceback).
        self.ships_errors = not (transport.debug and not transport.serialize)

    # -- what stages ask of the run ----------------------------------------------------------
    def expect(self, ref: Any, pending: Pending) -> None:
        self.pending[ref] = pending

    def inline_max(self, name: str, materializer: Any) -> int:
        """Values of step ``name`` smaller than this come back inline (``objects.py``);
        0 for the object-store materializer, which always keeps them in the store."""
        if getattr(materializer, "__synaflow_object_store__", False):
            return 0
        return int(self.options[name].get("object_store_threshold", self.threshold))

    def publish_value(self, name: str, remote: Remote, meta: Any) -> None:
        if meta.inline is not None:  # small: held by the driver, as in-process
            self.core.publish(name, meta.inline[0])
            return
        self.value_info[id(remote.ref)] = meta
        self.core.publish(name, remote)

    def readers_ready(self, producer: str) -> bool:
        """May ``producer``'s stream be read for the first time? In-process a stream is
        first pulled by a reader that runs, which it does once its resources exist
        (and, for a reader that streams on, once its own readers pull), so a reader
        whose resource factory raises leaves its producers not STARTED. The Ray
        runner holds a stream's first read back until every reader started so far is
        ready in that sense."""
        for consumer in self.core.dag.steps[producer].consumers:
            stage = self.stages.get(consumer)
            if stage is None or stage.done:
                continue
            if not stage.opened or not self.readers_ready(consumer):
                return False
        return True

    def propagate(self, producer: str, exc: BaseException) -> None:
        """A stream ended with a fatal error: its lazy readers see it, as the
        exception passes through their code in-process."""
        for consumer in self.core.dag.steps[producer].consumers:
            stage = self.stages.get(consumer)
            if stage is not None and not stage.done:
                stage.upstream_failed(exc)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> RunResult:
        core = self.core
        perform(core.start())
        try:
            self._settle()
            while not core.all_done():
                self.progress()
                progressed = self._pump()
                if core.fatal is not None or core.all_done():
                    break
                self._wait(progressed)
                self._settle()
        except BaseException:
            self._abort()  # Ctrl-C or a bug: no remote work may outlive the run
            raise
        if core.fatal is not None:
            return self._fail(core.fatal)
        result = core.result()
        outputs = resolve_outputs(result.outputs)
        result = dataclasses.replace(result, outputs=outputs,
                                     all_outputs=self.lifetimes.run_over(outputs))
        perform(core.completed())
        return result

    def _pump(self) -> bool:
        """Let stages move data until none can; True if anything moved."""
        any_progress = False
        while self.core.fatal is None:
            progressed = False
            for stage in list(self.stages.values()):
                if not stage.done and stage.pump():
                    progressed = True
            if not progressed:
                break
            any_progress = True
            self.guard.progress += 1
            self._settle()
        return any_progress

    def _wait(self, progressed: bool) -> None:
        if not self.pending:
            self._check_stall(progressed)
            return
        self.guard.waiting.clear()
        ready = self.transport.wait(list(self.pending), _TICK)
        if not ready:
            self._check_stall(True)
            return
        self.guard.progress += 1
        self._deliver(ready)

    def _deliver(self, ready: list) -> None:
        """Hand finished refs to the stages that wait for them; a streaming task's
        handle hands over its next object's ref, unread."""
        refs, handles = [], []
        for ref in ready:
            (handles if self.transport.is_handle(ref) else refs).append(ref)
        for ref, value in zip(refs, self._get(refs)):
            pending = self.pending.pop(ref)
            if pending.stale():
                continue
            if isinstance(value, _Failed):
                pending.stage.failed(value.exc, pending)
                continue
            pending.callback(value, pending.data)
        for handle in handles:
            pending = self.pending.pop(handle)
            if not pending.stale():
                pending.callback(self.transport.next_ref(handle), pending.data)

    def _get(self, refs: list) -> list:
        try:
            return self.transport.get(refs)
        except Exception:
            out = []
            for ref in refs:
                try:
                    out.append(self.transport.get([ref])[0])
                except Exception as exc:
                    out.append(_Failed(exc))
            return out

    def _settle(self) -> None:
        """Record finished steps, start ready ones, detach consumers that left."""
        core = self.core
        while True:
            for name, stage in self.stages.items():
                if stage.done and name not in core.finished:
                    core.step_finished(name)
                    self.lifetimes.step_over(name)
            ready = core.ready_steps()
            for name in ready:
                self._start(name)
            for producer, consumer in core.take_released():
                for value in (core.values.get(core.dag.output_key(producer, consumer)),):
                    if isinstance(value, StreamIn):
                        value.close()
            if not ready:
                return

    def _start(self, name: str) -> None:
        node = self.core.dag.steps[name]
        try:
            plan = self.core.call_plan(name)
            if node.mode is StepMode.EACH:
                stage: Any = EachStage(self, name, plan)
            elif node.is_stream or any(isinstance(v, StreamIn) for v in plan.static.values()):
                stage = ActorStage(self, name, plan)
            else:
                stage = ValueStage(self, name, plan)
            self.stages[name] = stage
            stage.start()
        except Exception as exc:  # preparing arguments failed: fatal, as in-process
            self.core.set_fatal(exc, None)
            if name in self.stages:
                self.stages[name].done = True

    def _check_stall(self, progressed: bool) -> None:
        active = [s for s in self.stages.values() if not s.done]
        if not progressed and not self.pending:
            for stage in active:
                self.guard.wait_begins(stage, stage.blocked())
        message = self.guard.check(len(active), self.core.busy)
        if message is not None:
            self.core.set_fatal(StallError(f"Pipeline '{self.core.dag.name}': {message}"),
                                None)

    def _abort(self) -> None:
        """Stop every call of the run where it runs (``stopping``) and forget them."""
        self._halt(values=True)
        for stage in self.stages.values():
            try:
                stage.abort()
            except Exception:
                pass
        self.pending.clear()

    def _halt(self, *, values: bool) -> None:
        """Stop the calls still pending (those of running value steps only if
        ``values``); their outcomes will not be read."""
        for stage in [pending.stage for pending in self.pending.values()]:
            if values or stage.done or not isinstance(stage, ValueStage):
                stage.halt()

    def _fail(self, exc: BaseException) -> RunResult:
        """End the run: streams and batches stop at once; value calls already running
        may finish within the grace period the sync runner gives its siblings, so
        they report as they would in-process."""
        for stage in self.stages.values():
            if not isinstance(stage, ValueStage):
                stage.abort()
        self._halt(values=False)
        deadline = self.core.clock() + max(self.guard.grace * 4, 2.0)
        while self.core.clock() < deadline:
            refs = [r for r, pending in self.pending.items() if not pending.stage.done]
            if not refs:
                break
            self._deliver(self.transport.wait(refs, _TICK))
        self._abort()
        for channel in self.channels:
            channel.fail(exc)
        perform(self.core.failed(exc))
        raise exc


class _Failed:
    """A ref whose task failed at the Ray level (worker died, cancelled, ...)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def ray_run(pipeline_or_dag: Any, params: Any, overrides: Any = None, **options: Any
            ) -> RunResult:
    """Run a pipeline (or its Dag) on Ray and return the same ``RunResult`` as ``run``.

    See ``RayOptions`` for the options (``address``, ``debug``, ``step_options``,
    ``ray_init``, ``stall_timeout``, ``object_store_threshold``...).
    """
    settings = RayOptions.from_call("ray_run()", overrides, options)
    return RayPipelineExecutor(pipeline_or_dag, settings).execute(params)
