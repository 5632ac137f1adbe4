"""Per-step Ray options: validated at build time, recorded in the contract.

Local runners ignore them; the Ray runner maps them onto ``.options(...)`` of the
tasks and actors it starts for the step.
"""
from __future__ import annotations

from typing import Any

from .exceptions import PipelineDefinitionError
from .sizes import parse_size

_NUMBER = (int, float)


def _non_negative(v: Any) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool) and v >= 0


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _retries(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= -1


def _resources(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and _non_negative(x)
                                       for k, x in v.items())


def _size(v: Any) -> bool:
    size = parse_size(v)
    return size is not None and size >= 0


# Ray's own resource names have options of their own: in resources={} Ray refuses them
# only when the task starts, without naming the step.
_BUILTIN_RESOURCES = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory",
                      "object_store_memory": None}


def _retry_exceptions(v: Any) -> bool:
    return isinstance(v, bool) or (isinstance(v, (list, tuple)) and all(
        isinstance(e, str) or (isinstance(e, type) and issubclass(e, BaseException))
        for e in v))


_RULES: dict[str, tuple[Any, str]] = {
    "num_cpus": (_non_negative, "a number >= 0"),
    "num_gpus": (_non_negative, "a number >= 0"),
    "memory": (_size, "bytes: an int >= 0 or a size such as '2GB' or '512MiB'"),
    "resources": (_resources, "a dict of resource name -> amount >= 0"),
    "runtime_env": (lambda v: isinstance(v, dict), "a dict (Ray runtime_env)"),
    "max_retries": (_retries, "an int >= -1 (-1 = retry forever)"),
    "retry_exceptions": (_retry_exceptions, "a bool or a list of exception classes"),
    "scheduling_strategy": (lambda v: v in ("DEFAULT", "SPREAD"), "'DEFAULT' or 'SPREAD'"),
    "replicas": (_positive_int, "an int >= 1"),
    "batch_size": (lambda v: v == "auto" or _positive_int(v), "an int >= 1 or 'auto'"),
    "max_concurrency": (_positive_int, "an int >= 1"),
    # Value outputs this large stay in the object store (distributed/objects.py).
    "object_store_threshold": (_size, "bytes: an int >= 0 (0: always the object store) "
                                      "or a size such as '4MiB'"),
}

RAY_OPTION_NAMES = tuple(_RULES)


def validate_ray_options(options: Any, *, pipeline: str, step: str) -> dict[str, Any]:
    """Check ``step(..., ray={...})``; returns a JSON-ready copy (exceptions by name)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise PipelineDefinitionError(
            f"'ray' options must be a dict, found {type(options).__name__}",
            pipeline=pipeline, step=step, fix="ray={'num_cpus': 1}")
    out: dict[str, Any] = {}
    for key, value in options.items():
        rule = _RULES.get(key)
        if rule is None:
            raise PipelineDefinitionError(
                f"unknown Ray option '{key}'", pipeline=pipeline, step=step,
                fix=f"use one of: {', '.join(RAY_OPTION_NAMES)}")
        if not rule[0](value):
            raise PipelineDefinitionError(
                f"Ray option '{key}' must be {rule[1]}, found {value!r}", pipeline=pipeline,
                step=step, fix=f"set '{key}' to {rule[1]}")
        if key == "resources":
            _no_builtin_resources(value, pipeline, step)
        out[key] = parse_size(value) if key in ("memory", "object_store_threshold") \
            else _jsonable(value)
    return out


def _no_builtin_resources(resources: dict, pipeline: str, step: str) -> None:
    for name in resources:
        if name in _BUILTIN_RESOURCES:
            option = _BUILTIN_RESOURCES[name]
            fix = (f"use ray={{'{option}': {resources[name]!r}}} instead" if option else
                   "leave it out: the object store is not a resource a task asks for")
            raise PipelineDefinitionError(
                f"Ray option 'resources' names '{name}', one of Ray's own resources, "
                "which Ray refuses in resources={} (only when the task starts)",
                pipeline=pipeline, step=step, param="ray", fix=fix)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [f"{v.__module__}.{v.__qualname__}" if isinstance(v, type) else v
                for v in value]
    return value
