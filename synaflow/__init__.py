"""SynaFlow: plain Python functions wired by name and type hint into a validated DAG.

Build a pipeline once with ``pipeline(...)``; run the same compiled contract with
``run`` (in-process), ``async_run`` (asyncio) or ``synaflow.distributed.ray_run``.

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step, run
    >>> class P(NamedTuple):
    ...     n: int
    >>> def double(n: int) -> int:
    ...     return 2 * n
    >>> p = pipeline(name="demo", params=P, steps=[step("double", fn=double)])
    >>> run(p, P(n=21)).outputs["double"]
    42
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# Public name -> defining module. Resolved lazily so that ``import synaflow`` stays
# fast and never pulls in the run-time engines (or asyncio) until they are used.
_EXPORTS: dict[str, str] = {
    "pipeline": "synaflow.core.definition",
    "step": "synaflow.core.definition",
    "include": "synaflow.core.definition",
    "StepMode": "synaflow.core.types",
    "OnError": "synaflow.core.types",
    "StepParams": "synaflow.core.types",
    "StepResult": "synaflow.core.types",
    "ErrorContext": "synaflow.core.types",
    "Scope": "synaflow.core.naming",
    "PIPELINE_SCOPE": "synaflow.core.constants",
    "run": "synaflow.execution.sync_engine.executor",
    "async_run": "synaflow.execution.async_engine.executor",
    "ExecutionOverrides": "synaflow.execution.overrides",
    "ResourceRegistry": "synaflow.execution.overrides",
    "RunOutcome": "synaflow.cli",
    "PipelineStopException": "synaflow.core.exceptions",
    "ThresholdExceededException": "synaflow.core.exceptions",
    "InvalidThresholdRaiseInEACHStep": "synaflow.core.exceptions",
    "Observer": "synaflow.core.observers",
    "PipelineEvent": "synaflow.core.observers",
    "StepEvent": "synaflow.core.observers",
    "MaterializationEvent": "synaflow.core.observers",
    "PipelineRegistry": "synaflow.core.pipeline_registry",
    "SynaflowCli": "synaflow.cli",
    "PreRunContext": "synaflow.cli",
    "PostRunContext": "synaflow.cli",
    "csv_serializer": "synaflow.serializers",
    "json_serializer": "synaflow.serializers",
    "jsonl_serializer": "synaflow.serializers",
    "pickle_serializer": "synaflow.serializers",
    "text_serializer": "synaflow.serializers",
}

# Names added by this implementation (not in 0.32.4's __all__).
_EXTRA_EXPORTS: dict[str, str] = {
    "RunResult": "synaflow.engine.result",
    "Dag": "synaflow.core.dag",
    "PipelineDefinitionError": "synaflow.core.exceptions",
    "ContractLoadError": "synaflow.core.exceptions",
    "StallError": "synaflow.core.exceptions",
    "ParamsError": "synaflow.core.exceptions",
    "SynaflowError": "synaflow.core.exceptions",
    "log_error_materializer": "synaflow.materializers.errors",
    "disk_error_materializer": "synaflow.materializers.errors",
    "disk_materializer": "synaflow.materializers.disk",
    "memory_materializer": "synaflow.materializers.memory",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) or _EXTRA_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'synaflow' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_EXTRA_EXPORTS])
