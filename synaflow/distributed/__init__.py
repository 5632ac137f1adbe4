"""The Ray runner: ``ray_run`` / ``RayPipelineExecutor``.

The same compiled Dag, the same rules (``synaflow.engine``), executed on Ray: value
steps become tasks, generator steps and ALL-mode stream consumers run in actors,
EACH steps run as micro-batched task pools (or actor replicas when they use
resources). Streams move between stages as object refs through bounded channels;
the driver only forwards refs and applies the rules.

    >>> from synaflow.distributed import ray_run          # doctest: +SKIP
    >>> ray_run(my_pipeline, params).outputs              # doctest: +SKIP

``ray_run(..., debug=True)`` runs the same code path in one process without Ray;
``debug="serialize"`` also round-trips every value through Ray's serializer.
"""
from __future__ import annotations

try:
    import ray as _ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "synaflow.distributed needs Ray, which is not installed. "
        'Install it with: pip install "synaflow[ray]"') from exc

from .driver import RayPipelineExecutor, ray_run
from .errors import RayConnectionError, RayImportError, RayResourceError, RaySerializationError

__all__ = ["ray_run", "RayPipelineExecutor", "RaySerializationError", "RayConnectionError",
           "RayResourceError", "RayImportError"]
