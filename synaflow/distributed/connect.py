"""Connecting to Ray, per-step options, and the serialisability check before submit."""
from __future__ import annotations

import importlib
import logging
import os
import time
from typing import Any, Callable

from ..core.exceptions import PipelineDefinitionError
from ..core.ray_options import validate_ray_options
from .errors import RayConnectionError, RayResourceError, dumps, serialization_error

_TASK_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "runtime_env", "max_retries",
              "retry_exceptions", "scheduling_strategy")
_ACTOR_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "runtime_env",
               "scheduling_strategy", "max_concurrency")


DEFAULT_CONNECT_TIMEOUT_S = 30.0
# A head (or its Ray Client server) started a moment ago may refuse connections for a
# few seconds: refused connections are tried again for this long before failing.
STARTING_S = 3.0
# Set in the environment while an embedded Ray starts, so everything it spawns carries it.
START_MARKER = "SYNAFLOW_RAY_START"


def connect(address: str | None, init_kwargs: dict[str, Any] | None,
            timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> bool:
    """Make sure Ray is initialised; True when this call started a local Ray (so the
    caller shuts it down again). An existing connection is used as it is; an
    ``address`` (or ``RAY_ADDRESS``, ``ray://`` included) joins a running cluster,
    which is never shut down. Joining fails within ``timeout`` seconds with a
    ``RayConnectionError`` naming the address (Ray alone retries without end)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(init_kwargs or {})
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        join(address, kwargs, timeout)
        return False
    # Ray >= 2.59 turns token authentication on for new local clusters and writes a
    # token into $HOME; an embedded throw-away Ray does not need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("logging_level", logging.WARNING)
    # "local": always a new embedded instance, never a cluster some earlier
    # `ray start` on this machine advertised in /tmp/ray/ray_current_cluster.
    before = set(_descendants())
    # Every process this start spawns inherits the marker, so an interrupted start
    # finds them again even when their parent died first and they were re-parented.
    marker = os.environ[START_MARKER] = f"{os.getpid()}-{time.monotonic_ns()}"
    try:
        ray.init(address="local", **kwargs)
    except BaseException:  # Ctrl-C (or a failure) half way through starting Ray
        stop_started(before, marker)
        raise
    finally:
        os.environ.pop(START_MARKER, None)  # later subprocesses of the caller are not Ray's
    return True


def _descendants(root: int | None = None) -> list[int]:
    """Process ids below ``root`` (this process), parents before children; empty where
    there is no ``/proc``."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for entry in _proc_entries():
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(0), ()):
            out.append(child)
            queue.append(child)
    return out


def _proc_entries() -> list[str]:
    """The process ids in ``/proc``; empty where there is none."""
    try:
        return [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def _marked(marker: str, name: str = START_MARKER) -> list[int]:
    """Process ids whose environment carries ``name=marker``."""
    needle = f"{name}={marker}".encode() + b"\0"
    found = []
    for entry in _proc_entries():
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read() + b"\0"
        except OSError:
            continue
        if b"\0" + needle in b"\0" + environ:
            found.append(int(entry))
    return found


def stop_started(before: set[int], marker: str) -> None:
    """Stop everything an interrupted embedded start left behind: ``ray.shutdown()``,
    then every process below this one that was not there before, and every process
    carrying this start's ``marker`` (Ray's GCS, raylet and their agents, which outlive
    a killed raylet for about a minute), children first. Sweeps again until a sweep
    finds nothing: a raylet may spawn an agent while it is being stopped."""
    import signal

    import ray

    me = os.getpid()
    started = [pid for pid in _descendants() if pid not in before]
    try:
        ray.shutdown()
    except BaseException:
        pass
    for _ in range(10):
        found = started + [pid for pid in _descendants() if pid not in before]
        found += _marked(marker)
        found = [pid for pid in dict.fromkeys(found) if pid != me and _running(pid)]
        if not found:
            return
        _stop(found[::-1], signal)  # children (listed after their parents) first
        started = []


def _stop(pids: list[int], signal: Any) -> None:
    """SIGTERM, then SIGKILL what is still running after two seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _running(pid)]
            time.sleep(0.05)
        if not alive:
            return
        pids = alive


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except OSError:
        return False
    if state == b"Z":  # a zombie child: reap it
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass
        return False
    return True


def join(address: str, kwargs: dict[str, Any],
         timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """``ray.init`` on a running cluster. The address is checked first (its form, the
    host name, a TCP connection, a gRPC call), so a wrong one fails within seconds; a
    token the cluster rejects is reported at once (Ray itself retries for 20-30 s, then
    names neither cause nor fix); ``ray.init`` itself is given ``timeout`` seconds."""
    import ray

    kwargs.setdefault("logging_level", logging.WARNING)
    if address != "auto":
        check_reachable(address, timeout)
    answer = _until_up(lambda: _probe(address, min(timeout, 5.0)),
                       lambda a: a is not None and a[0] == "UNAVAILABLE", timeout)
    if answer is not None and answer[0] == "UNAUTHENTICATED":
        raise RayConnectionError(_auth_message(address, answer[1]))
    if answer is not None and answer[0] in ("UNAVAILABLE", "UNIMPLEMENTED", "INTERNAL",
                                            "DEADLINE_EXCEEDED", "UNKNOWN"):
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}': something listens there, but it "
            f"does not answer as a Ray {'client server' if '://' in address else 'head'} "
            f"(gRPC {answer[0]}). To fix: {_ADDRESS_HELP}")
    try:
        _bounded(lambda: ray.init(address=address, **kwargs), address, timeout)
    except (ConnectionError, TimeoutError, ray.exceptions.AuthenticationError) as exc:
        if isinstance(exc, RayConnectionError):
            raise
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}' ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}). Check that the cluster is running and reachable "
            "from here: the address is the head's GCS address 'host:port' (`ray start "
            "--head` prints it) or a Ray Client address 'ray://host:10001'. If the cluster "
            "uses token authentication: " + _TOKEN_HELP) from exc


_ADDRESS_HELP = ("the address is the head's GCS address 'host:port' (`ray start --head` "
                 "prints it, default port 6379) or a Ray Client address 'ray://host:10001'")


def check_reachable(address: str, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
    """RayConnectionError unless ``address`` has Ray's form, its host resolves and a
    TCP connection to its port succeeds within ``min(timeout, 5)`` seconds."""
    import socket

    kind, _, target = address.rpartition("://")
    host, _, port = target.rpartition(":")
    if kind not in ("", "ray") or not host or not port.isdigit():
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}': that is not a Ray address. To "
            f"fix: {_ADDRESS_HELP}, or leave address= unset for an embedded local Ray")
    host = host.strip("[]")
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}': the host name '{host}' does not "
            f"resolve ({exc}). To fix: check the name, or use the head node's IP "
            "address") from exc
    def connect_once() -> OSError | None:
        try:
            socket.create_connection((host, int(port)), timeout=min(timeout, 5.0)).close()
            return None
        except OSError as exc:
            return exc

    error = _until_up(connect_once, lambda e: isinstance(e, ConnectionRefusedError), timeout)
    if error is not None:
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}': nothing answers on port {port} "
            f"of '{host}' ({error.strerror or type(error).__name__}). To fix: start the "
            f"cluster (`ray start --head`) or correct the address: {_ADDRESS_HELP}"
        ) from error


def _until_up(attempt: Callable[[], Any], starting: Callable[[Any], bool],
              timeout: float) -> Any:
    """``attempt()`` again every 0.25 s while its answer says the server may still be
    starting, for at most ``min(timeout, STARTING_S)`` seconds; the last answer."""
    deadline = time.monotonic() + min(timeout, STARTING_S)
    answer = attempt()
    while starting(answer) and time.monotonic() < deadline:
        time.sleep(0.25)
        answer = attempt()
    return answer


def _bounded(call: Any, address: str, timeout: float) -> None:
    """Run ``call`` (``ray.init``) but give up after ``timeout`` seconds: a server that
    accepts connections without being a Ray GCS makes Ray wait without end."""
    import threading

    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    # ray.init warns that it cannot set its SIGTERM handler off the main thread; the
    # default action of SIGTERM (end the process) is what a driver wants anyway.
    quiet = logging.getLogger("ray._private.worker")
    hush = _DropSigtermWarning()
    quiet.addFilter(hush)
    worker = threading.Thread(target=target, name="synaflow-ray-connect", daemon=True)
    worker.start()
    try:
        worker.join(timeout)
    finally:
        quiet.removeFilter(hush)
    if worker.is_alive():
        raise RayConnectionError(
            f"Cannot join the Ray cluster at '{address}': no Ray answered there within "
            f"{timeout:g} s (connect_timeout_s). Something listens on that port, but it "
            f"does not behave like a Ray head. To fix: {_ADDRESS_HELP}; raise "
            "connect_timeout_s if the cluster is only slow to answer")
    if "error" in box:
        raise box["error"]


class _DropSigtermWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


_TOKEN_HELP = ("set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or in "
               "the file RAY_AUTH_TOKEN_PATH names, default ~/.ray/auth_token); `ray "
               "get-auth-token` on the head node prints it")
# One cheap call each (an empty GetClusterId; a Ray Client PING), only to see whether
# the server accepts the token Ray would send.
_PROBES = {"gcs": ("/ray.rpc.NodeInfoGcsService/GetClusterId", b""),
           "client": ("/ray.rpc.RayletDriver/ClusterInfo", b"\x08\x06")}


def _probe(address: str, timeout: float = 2.0) -> tuple[str, bool] | None:
    """Ask the server at ``address`` one cheap question: ``("ok", sent)``, or the gRPC
    status name it answered with (``"UNAUTHENTICATED"``, ``"UNAVAILABLE"``, ...) and
    whether a token was sent. Anything unexpected (no port, TLS, a changed Ray) answers
    None and leaves the rest to ray.init."""
    kind, _, target = address.rpartition("://")
    if kind not in ("", "ray") or not target.rpartition(":")[2].isdigit():
        return None
    method, request = _PROBES["client" if kind else "gcs"]
    try:
        import grpc
        from ray._private.authentication.grpc_authentication_client_interceptor import (
            _get_authentication_metadata_tuple)

        metadata = _get_authentication_metadata_tuple()
        channel = grpc.insecure_channel(target)
    except Exception:
        return None
    try:
        channel.unary_unary(method)(request, timeout=timeout, metadata=metadata)
        return "ok", bool(metadata)
    except grpc.RpcError as exc:
        return exc.code().name, bool(metadata)
    except Exception:
        return None
    finally:
        channel.close()


def _auth_message(address: str, sent: bool) -> str:
    mode = os.environ.get("RAY_AUTH_MODE", "not set")
    if sent:
        found = "rejected the token this process sent (wrong or outdated token)"
    else:
        found = (f"requires an authentication token, and this process has none "
                 f"(RAY_AUTH_MODE is {mode})")
    return (f"Cannot join the Ray cluster at '{address}': it uses token authentication "
            f"and {found}. To fix: {_TOKEN_HELP}")


_DEMANDS = (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory"))


def demand(opts: dict[str, Any]) -> dict[str, float]:
    """The Ray resources one task or actor of a step asks for."""
    out = {res: float(opts[key]) for key, res in _DEMANDS if opts.get(key)}
    out.update((k, float(v)) for k, v in (opts.get("resources") or {}).items() if v)
    return out


def check_resources(pipeline: str, options: dict[str, dict[str, Any]],
                    nodes: list[dict[str, float]]) -> None:
    """Fail before submitting when no node of the cluster can ever run a step (Ray
    would keep its tasks pending forever). ``nodes``: each alive node's total
    resources. Autoscaling clusters that add such nodes on demand opt out with
    ``SYNAFLOW_RAY_CHECK_RESOURCES=0``."""
    if os.environ.get("SYNAFLOW_RAY_CHECK_RESOURCES", "1") == "0":
        return
    for step, opts in options.items():
        wanted = demand(opts)
        if not wanted or any(all(node.get(r, 0.0) >= amount for r, amount in wanted.items())
                             for node in nodes):
            continue
        raise RayResourceError(_resource_message(pipeline, step, wanted, nodes))


def _amounts(resources: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v / 2**30:.3g} GiB" if k == "memory" else f"{k}: {v:g}"
                     for k, v in sorted(resources.items())
                     if not k.startswith("node:") and k != "object_store_memory")


def _resource_message(pipeline: str, step: str, wanted: dict[str, float],
                      nodes: list[dict[str, float]]) -> str:
    short = [r for r, amount in wanted.items()
             if max((n.get(r, 0.0) for n in nodes), default=0.0) < amount]
    found = (f"no node has enough {', '.join(repr(r) for r in short)}" if short
             else "no single node has all of them")
    offers = "; ".join(f"{{{_amounts(n)}}}" for n in nodes) or "no alive node"
    return (f"Pipeline '{pipeline}', step '{step}': asks Ray for {{{_amounts(wanted)}}} per "
            f"task or actor, but {found} (the cluster's nodes offer: {offers}). Its tasks "
            "would wait forever. Add a node that has them (`ray start --num-gpus=... "
            "--resources='{\"name\": amount}'`), or lower the step's `ray` options "
            "(for one run: step_options=). On an autoscaling cluster that starts such "
            "nodes on demand, set SYNAFLOW_RAY_CHECK_RESOURCES=0")


def merged_options(dag: Any, overrides: dict[str, dict[str, Any]] | None
                   ) -> dict[str, dict[str, Any]]:
    """Per-step Ray options: the contract's, then the run's ``step_options``."""
    overrides = overrides or {}
    unknown = [s for s in overrides if s not in dag.steps]
    if unknown:
        raise PipelineDefinitionError(
            f"step_options names unknown step '{unknown[0]}'", pipeline=dag.name,
            fix=f"use one of: {', '.join(dag.steps)}")
    out = {}
    for name, node in dag.steps.items():
        opts = dict(node.ray_options)
        extra = overrides.get(name)
        if extra:
            opts.update(validate_ray_options(extra, pipeline=dag.name, step=name))
        out[name] = opts
    return out


def _exception_classes(names: Any) -> Any:
    if isinstance(names, bool):
        return names
    classes = []
    for name in names:
        if isinstance(name, type):
            classes.append(name)
            continue
        module, _, qual = name.rpartition(".")
        obj: Any = importlib.import_module(module or "builtins")
        for part in qual.split("."):
            obj = getattr(obj, part)
        classes.append(obj)
    return classes


def retry_classes(value: Any) -> tuple:
    """``retry_exceptions`` as a tuple of classes (``True``: every exception)."""
    if not value:
        return ()
    return (Exception,) if value is True else tuple(_exception_classes(value))


def task_options(opts: dict[str, Any], label: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": label}
    for key in _TASK_KEYS:
        if key in opts:
            value = opts[key]
            out[key] = _exception_classes(value) if key == "retry_exceptions" else value
    return out


def actor_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Options of a dedicated actor; empty means a pooled one will do."""
    out = {key: opts[key] for key in _ACTOR_KEYS if key in opts}
    if "max_retries" in opts:
        out["max_restarts"] = opts["max_retries"]
        out["max_task_retries"] = opts["max_retries"]
    return out


class RunOptions:
    """The per-step Ray options of one run, in the forms the stages use."""

    def __init__(self, pipeline: str, run_id: str, options: dict[str, dict[str, Any]],
                 cpus: Any) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self.options = options
        self._cpus = cpus
        self._cpu_count: float | None = None

    def of(self, step: str) -> dict[str, Any]:
        return self.options[step]

    def task(self, step: str) -> dict[str, Any]:
        return task_options(self.options[step], f"{self.pipeline}.{step}")

    def actor(self, step: str) -> dict[str, Any]:
        return actor_options(self.options[step])

    def actor_name(self, step: str, replica: int) -> str:
        """``pipeline.step#replica:run`` (actor names are unique in a namespace)."""
        return f"{self.pipeline}.{step}#{replica}:{self.run_id[:8]}"

    def replicas(self, step: str, *, stateful: bool = False) -> int:
        """Parallel batches of an EACH step: ``replicas``, else one per CPU it fits on.
        A step with resources defaults to one replica, so its resource is shared by
        every row as in-process; ``replicas=N`` gives each replica its own."""
        opts = self.options[step]
        if "replicas" in opts:
            return int(opts["replicas"])
        if stateful:
            return 1
        if self._cpu_count is None:
            self._cpu_count = self._cpus()
        per = float(opts.get("num_cpus", 1) or 0)
        total = self._cpu_count
        return max(1, min(64, int(total / per) if per > 0 else int(total)))


def check_serialisable(core: Any) -> list[tuple[str, str | None, bytes]]:
    """Fail before anything is submitted if a function, materializer, resource
    factory or param cannot travel to a worker; the message names the step.
    Returns what was pickled, as ``(what, step, bytes)`` (``imports.py`` reads it)."""
    dag = core.dag
    out: list[tuple[str, str | None, bytes]] = []

    def _check(obj: Any, what: str, step: str | None, dag: Any) -> None:
        out.append((what, step, _pickled(obj, what, step, dag)))

    for name, node in dag.steps.items():
        _check(node.fn, f"function '{getattr(node.fn, '__qualname__', node.fn)}'", name, dag)
        if node.materialize_output and core.materializer(name) is not None:
            _check(core.materializer(name), "its materializer", name, dag)
        for b in node.bindings:
            if b.producer in core.resource_factories or b.producer in dag.resource_types:
                try:
                    provider = core.provider(b.producer)
                except Exception:
                    continue  # reported when the step starts, as in-process
                _check(provider, f"resource '{b.producer}'", name, dag)
    for field, value in core.params.items():
        _check(value, f"params field '{field}'", None, dag)
    return out


def _pickled(obj: Any, what: str, step: str | None, dag: Any) -> bytes:
    try:
        return dumps(obj)
    except Exception as exc:
        raise serialization_error(what, step, dag.name, exc) from exc
