"""Connecting to Ray, per-step options, and the serialisability check before submit."""
from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from ..core.exceptions import PipelineDefinitionError
from ..core.ray_options import validate_ray_options
from .errors import dumps, serialization_error

_TASK_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "runtime_env", "max_retries",
              "retry_exceptions", "scheduling_strategy")
_ACTOR_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "runtime_env",
               "scheduling_strategy", "max_concurrency")


def connect(address: str | None, init_kwargs: dict[str, Any] | None) -> bool:
    """Make sure Ray is initialised; True when this call started a local Ray (so the
    caller shuts it down again). An existing connection is used as it is; an
    ``address`` (or ``RAY_ADDRESS``, ``ray://`` included) joins a running cluster,
    which is never shut down."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(init_kwargs or {})
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING, **kwargs)
        return False
    # Ray >= 2.59 turns token authentication on for new local clusters and writes a
    # token into $HOME; an embedded throw-away Ray does not need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("logging_level", logging.WARNING)
    # "local": always a new embedded instance, never a cluster some earlier
    # `ray start` on this machine advertised in /tmp/ray/ray_current_cluster.
    ray.init(address="local", **kwargs)
    return True


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


def check_serialisable(core: Any) -> None:
    """Fail before anything is submitted if a function, materializer, resource
    factory or param cannot travel to a worker; the message names the step."""
    dag = core.dag
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


def _check(obj: Any, what: str, step: str | None, dag: Any) -> None:
    try:
        dumps(obj)
    except Exception as exc:
        raise serialization_error(what, step, dag.name, exc) from exc
