"""The Ray runner for the conformance suite (``synaflow.testing``).

``register()`` adds three runners: ``ray`` (a local Ray started once, kept for the
session), ``ray-debug`` (in-process) and ``ray-serialize`` (in-process, every value
through Ray's serializer).

    >>> from synaflow.distributed.testing import register   # doctest: +SKIP
    >>> register()                                           # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Any

from .driver import ray_run


class RayRunner:
    """``run(pipeline, params, overrides)`` on Ray or in the debug mode."""

    def __init__(self, debug: bool | str = False, *, num_cpus: int = 2) -> None:
        self.debug = debug
        self.num_cpus = num_cpus
        self.name = {False: "ray", True: "ray-debug", "serialize": "ray-serialize"}[debug]

    def run(self, pipeline: Any, params: Any, overrides: Any = None) -> Any:
        if not self.debug:
            ensure_ray(self.num_cpus)
        return ray_run(pipeline, params, overrides, debug=self.debug)


def ensure_ray(num_cpus: int = 2) -> None:
    """Start one local Ray for the whole test session (each start costs seconds)."""
    import ray

    if not ray.is_initialized():
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 logging_level="WARNING")


def register() -> None:
    """Make ``ray``, ``ray-debug`` and ``ray-serialize`` available to the suite."""
    from ..testing.runners import register_runner

    register_runner("ray", lambda: RayRunner(False))
    register_runner("ray-debug", lambda: RayRunner(True))
    register_runner("ray-serialize", lambda: RayRunner("serialize"))
