"""How the driver submits work and waits: on Ray, or in-process for debugging.

Everything above this module (stages, driver) is the same for both; only
submitting, waiting and fetching differ. ``LocalTransport`` replaces Ray's removed
``local_mode``: tasks run eagerly in the driver's thread (so breakpoints work),
actors are thread pools, and with ``serialize=True`` every argument, value and
function goes through Ray's serializer on the way, as it would between processes.
"""
from __future__ import annotations

import concurrent.futures as cf
import time
from collections import deque
from typing import Any, Callable

from . import stopping
from .actor import StepWorker
from .errors import dumps, loads, serialization_error
from .refs import LocalRef, forget

POOLED_ACTOR_CONCURRENCY = 32
# Per Ray session (job): idle pooled actors, how many were made (they are named
# ``synaflow.pool#<n>:<job>``), and the remote wrappers of our worker functions and
# actor class (each new wrapper is exported to the cluster again).
_POOL: dict[str, Any] = {"key": None, "idle": {}, "remotes": {}, "made": 0}
_POOL_LIMIT = 8


def _session(ray: Any) -> tuple[str, str]:
    """``(job id, cluster)`` of this process's Ray session. The job id alone repeats
    (the first driver of every new cluster is job 01000000): after ``ray.shutdown()``
    and ``ray.init()`` the pool must not hand out the old cluster's actors."""
    ctx = ray.get_runtime_context()
    try:
        cluster = ray._private.worker.global_worker.node.session_name
    except Exception:  # Ray Client: no local node; the driver's node id will do
        cluster = ctx.get_node_id()
    return ctx.get_job_id(), str(cluster)


class RayTransport:
    """Ray tasks and ``StepWorker`` actors. Generic actors are pooled per Ray session
    and reused by later runs: starting one costs a new Python process.

    Names, for the Ray dashboard: tasks are named ``pipeline.step``; every call on an
    actor is named after the step it serves (``pipeline.step`` or
    ``pipeline.step.<method>``). An actor's own name is fixed when it is created, so
    a dedicated actor is named ``pipeline.step#replica:run``, and a pooled one, which
    serves one step after another, ``synaflow.pool#<n>:<job>``."""

    debug = False

    def __init__(self, *, pipeline: str = "") -> None:
        import ray

        self.ray = ray
        self.pipeline = pipeline
        key = _session(ray)
        if _POOL["key"] != key:
            _POOL.update(key=key, idle={}, remotes={}, cpus=None, made=0)
        self._fns: dict[Any, Any] = _POOL["remotes"]
        self._actor_cls = self._remote(StepWorker)
        # Ray Client cannot run streaming tasks ("not currently supported").
        self.streams = not ray.util.client.ray.is_connected()

    def _remote(self, obj: Any) -> Any:
        remote = self._fns.get(obj)
        if remote is None:
            remote = self._fns[obj] = self.ray.remote(obj)
        return remote

    def put(self, value: Any, label: str = "") -> Any:
        return self.ray.put(value)

    def task(self, fn: Callable[..., Any], options: dict[str, Any], label: str
             ) -> Callable[..., list]:
        """A submitter for ``fn`` as a task with two returns (meta, data)."""
        prepared = self._remote(fn).options(num_returns=2, **options)
        return prepared.remote

    def streamed_task(self, fn: Callable[..., Any], options: dict[str, Any], label: str
                      ) -> Callable[..., Any]:
        """A submitter for generator ``fn`` as a streaming task: a handle whose objects
        arrive one by one (``wait`` on it, then ``next_ref``)."""
        return self._remote(fn).options(num_returns="streaming", **options).remote

    def is_handle(self, ref: Any) -> bool:
        return isinstance(ref, self.ray.ObjectRefGenerator)

    def next_ref(self, handle: Any) -> Any:
        """The next object of a streaming task that ``wait`` reported ready."""
        return next(handle)

    def actor(self, options: dict[str, Any], name: str, *, near: bool = False
              ) -> tuple[Any, str | None]:
        """A ``StepWorker`` and the pool it returns to (None: a dedicated actor).

        Without per-step options an idle pooled actor is reused. ``near`` places it
        on the driver's node: a generator's or stream reader's state and
        output then survive the loss of any other node. A step with options gets a
        dedicated actor named after it (``pipeline.step#replica:run``); ``near`` is
        then a preference, as its options may need another node."""
        affinity = {}
        if near and "scheduling_strategy" not in options:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # A step with its own options may ask for what the driver's node lacks (a
            # GPU, a custom resource): it prefers that node but may run elsewhere.
            affinity = {"scheduling_strategy": NodeAffinitySchedulingStrategy(
                self.ray.get_runtime_context().get_node_id(), soft=bool(options))}
        if not options:
            pool = "near" if near else "any"
            idle = _POOL["idle"].setdefault(pool, [])
            if idle:
                return idle.pop(), pool
            _POOL["made"] += 1
            label = f"synaflow.pool#{_POOL['made']}:{_POOL['key'][0]}"
            return self._actor_cls.options(max_concurrency=POOLED_ACTOR_CONCURRENCY,
                                           num_cpus=0, name=label, **affinity).remote(), pool
        opts = {"max_concurrency": POOLED_ACTOR_CONCURRENCY, "name": name, **affinity,
                **options}
        return self._actor_cls.options(**opts).remote(), None

    def call(self, actor: Any, method: str, *args: Any, num_returns: int = 1,
             name: str | None = None) -> Any:
        """``actor.method.remote(*args)``; the call is named ``name``, or after the
        step whose slot (``run:step``) it is for."""
        if name is None and args and isinstance(args[0], str):
            name = f"{self.pipeline}.{args[0].partition(':')[2]}.{method}"
        m = getattr(actor, method)
        if num_returns != 1 or name:
            m = m.options(num_returns=num_returns, **({"name": name} if name else {}))
        return m.remote(*args)

    def release(self, actor: Any, slot: str, pool: str | None) -> None:
        """Free the stage's slot; a pooled actor goes back to its pool."""
        self.call(actor, "release", slot)
        idle = _POOL["idle"].setdefault(pool, []) if pool else None
        if idle is not None and len(idle) < _POOL_LIMIT:
            idle.append(actor)

    def kill(self, actor: Any) -> None:
        try:
            self.ray.kill(actor)
        except Exception:
            pass

    def actor_lost(self, exc: BaseException) -> bool:
        """The actor behind a call died (its process or node)."""
        return isinstance(exc, self.ray.exceptions.RayActorError)

    def system_failure(self, exc: BaseException) -> bool:
        """A task failed for a reason outside the step's code (worker or node lost)."""
        e = self.ray.exceptions
        return isinstance(exc, (e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError,
                                e.RayActorError))

    def wait(self, refs: list, timeout: float) -> list:
        """Refs that are ready, at least one unless ``timeout`` passed. Only their
        status is waited for (``fetch_local=False``): data stays where it is."""
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=False)
        return ready

    def get(self, refs: list) -> list:
        return self.ray.get(refs)

    def stop(self, slot: str) -> None:
        """Stop a stage's calls where they run (``stopping``; never ``ray.cancel``)."""
        try:
            stopping.stop_on_ray(slot)
        except Exception:
            pass  # disconnected: the run's calls end with the job

    def nodes(self) -> list[dict[str, float]]:
        """The total resources of each alive node."""
        return [dict(n["Resources"]) for n in self.ray.nodes() if n.get("Alive")]

    def cpus(self) -> float:
        """CPUs in the cluster (asked at most every 30 s: it costs a GCS round trip)."""
        now = time.monotonic()
        seen = _POOL.get("cpus")
        if seen is None or now - seen[1] > 30:
            seen = _POOL["cpus"] = (float(self.ray.cluster_resources().get("CPU", 1.0)), now)
        return seen[0]

    def close(self) -> None:
        """Nothing to do: pooled actors outlive the run, refs are freed by Ray."""


def _resolved(args: tuple) -> tuple:
    """Top-level refs become their values before a call, as Ray does for tasks."""
    return tuple(a.get() if isinstance(a, LocalRef) else a for a in args)


class _LocalActor:
    def __init__(self, workers: int) -> None:
        self.worker = StepWorker()
        self.pool = cf.ThreadPoolExecutor(max_workers=workers,
                                          thread_name_prefix="synaflow-debug-actor")


class _LocalStream:
    """A debug-mode streaming task's objects, handed out once it has run (``future``)."""

    def __init__(self, refs: list[LocalRef]) -> None:
        self.refs = deque(refs)
        self.future: cf.Future = cf.Future()
        self.future.set_result(None)


class LocalTransport:
    """One process, no Ray: the debug mode behind ``ray_run(..., debug=True)``."""

    debug = True
    streams = True

    def __init__(self, *, serialize: bool = False, pipeline: str = "") -> None:
        self.serialize = serialize
        self.pipeline = pipeline
        self.actors: list[_LocalActor] = []
        self.refs: list[int] = []
        # Tasks run on threads, so that the driver's loop goes on while a call runs:
        # the progress display stays live and a stuck call becomes a StallError.
        self.tasks = cf.ThreadPoolExecutor(max_workers=int(self.cpus()),
                                           thread_name_prefix="synaflow-debug-task")

    def _round_trip(self, value: Any, label: str) -> Any:
        if not self.serialize:
            return value
        try:
            data = dumps(value)
        except Exception as exc:
            raise serialization_error(label.partition(":")[2] or "a value", None,
                                      self.pipeline, exc) from exc
        return loads(data)

    def _out(self, value: Any, label: str) -> Any:
        if not self.serialize:
            return value
        try:
            return dumps(value)
        except Exception as exc:
            raise serialization_error(f"a value produced by step '{label}'", label,
                                      self.pipeline, exc) from exc

    def _ref(self, future: cf.Future, index: int | None) -> LocalRef:
        ref = LocalRef(future, index, loads if self.serialize else None)
        self.refs.append(ref.id)
        return ref

    def close(self) -> None:
        for actor in self.actors:
            actor.pool.shutdown(wait=False, cancel_futures=True)
        self.tasks.shutdown(wait=False, cancel_futures=True)
        forget(self.refs)
        self.refs = []

    def put(self, value: Any, label: str = "") -> LocalRef:
        future: cf.Future = cf.Future()
        future.set_result(self._out(value, label) if self.serialize else value)
        return self._ref(future, None)

    def task(self, fn: Callable[..., Any], options: dict[str, Any], label: str
             ) -> Callable[..., list]:
        def run(args: tuple) -> tuple:
            result = fn(*_resolved(self._round_trip(args, f"arguments:{label}")))
            return tuple(self._out(part, label) for part in result)

        def submit(*args: Any) -> list:
            future = self.tasks.submit(run, args)
            return [self._ref(future, 0), self._ref(future, 1)]
        return submit

    def streamed_task(self, fn: Callable[..., Any], options: dict[str, Any], label: str
                      ) -> Callable[..., "_LocalStream"]:
        """Run generator ``fn`` eagerly, as ``task`` runs functions; its objects are
        handed out one by one, as a streaming task's."""
        def run(args: tuple, stream: _LocalStream) -> None:
            try:
                for item in fn(*_resolved(self._round_trip(args, f"arguments:{label}"))):
                    future: cf.Future = cf.Future()
                    future.set_result(self._out(item, label))
                    stream.refs.append(self._ref(future, None))
            except Exception as exc:
                future = cf.Future()
                future.set_exception(exc)
                stream.refs.append(self._ref(future, None))

        def submit(*args: Any) -> _LocalStream:
            stream = _LocalStream([])
            stream.future = self.tasks.submit(run, args, stream)  # its objects, once run
            return stream
        return submit

    def is_handle(self, ref: Any) -> bool:
        return isinstance(ref, _LocalStream)

    def next_ref(self, handle: "_LocalStream") -> LocalRef:
        return handle.refs.popleft()

    def actor(self, options: dict[str, Any], name: str = "", *, near: bool = False
              ) -> tuple[_LocalActor, str | None]:
        actor = _LocalActor(int(options.get("max_concurrency", POOLED_ACTOR_CONCURRENCY)))
        self.actors.append(actor)
        return actor, None

    def call(self, actor: _LocalActor, method: str, *args: Any, num_returns: int = 1,
             name: str | None = None) -> Any:
        label = name or method
        args = self._round_trip(args, f"arguments:{label}")

        def run() -> Any:
            result = getattr(actor.worker, method)(*_resolved(args))
            if num_returns == 1:
                return self._out(result, label)
            return tuple(self._out(part, label) for part in result)
        future = actor.pool.submit(run)
        if num_returns == 1:
            return self._ref(future, None)
        return [self._ref(future, i) for i in range(num_returns)]

    def release(self, actor: _LocalActor, slot: str, pool: str | None) -> None:
        actor.worker.release(slot)
        actor.pool.shutdown(wait=False)

    def kill(self, actor: _LocalActor) -> None:
        for slot in list(actor.worker.slots):
            actor.worker.release(slot)
        actor.pool.shutdown(wait=False, cancel_futures=True)

    def wait(self, refs: list, timeout: float) -> list:
        futures: dict[cf.Future, list] = {}
        for ref in refs:
            futures.setdefault(ref.future, []).append(ref)
        done, _ = cf.wait(list(futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [ref for f in done for ref in futures[f]]

    def get(self, refs: list) -> list:
        return [r.get() for r in refs]

    def stop(self, slot: str) -> None:
        stopping.stop_locally(slot)

    def cpus(self) -> float:
        return 2.0

    def actor_lost(self, exc: BaseException) -> bool:
        return False

    def system_failure(self, exc: BaseException) -> bool:
        return False
