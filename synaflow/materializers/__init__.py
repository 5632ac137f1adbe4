"""Built-in materializers and error materializers.

Import them from their submodules (as in 0.32.4) or from here:

    >>> from synaflow.materializers.disk import disk_materializer
    >>> from synaflow.serializers import jsonl_serializer
    >>> factory = disk_materializer("out", jsonl_serializer)
    >>> factory.__name__
    'factory'

Every function below returns a *factory*, called once per step at build time
with a ``MaterializeContext`` (or ``ErrorMaterializeContext``). This package
stays light: nothing here imports pyarrow or ray, and the names are resolved
lazily on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "memory_materializer": "synaflow.materializers.memory",
    "disk_materializer": "synaflow.materializers.disk",
    "disk_error_materializer": "synaflow.materializers.errors",
    "log_error_materializer": "synaflow.materializers.errors",
    "composite_materializer": "synaflow.materializers.composite",
    "composite_error_materializer": "synaflow.materializers.composite",
    "object_store_materializer": "synaflow.materializers.object_store",
    "ObjectStoreMaterializer": "synaflow.materializers.object_store",
    "pickled_materializer": "synaflow.materializers.pickled",
    "PickledMaterializer": "synaflow.materializers.pickled",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'synaflow.materializers' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
