"""The Ray runner as the conformance suite runs it (``synaflow.testing``): on a local
Ray started once and kept for the session, or in one of its in-process debug modes;
with ``native=True`` on the generated async-def twin of each case
(``synaflow.testing.asyncify``). ``synaflow.testing.runners`` registers the six
variants (``ray``, ``ray-debug``, ``ray-serialize`` and their ``-native`` twins)
when Ray is installed.
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["RayRunner", "ensure_ray"]


class RayRunner:
    """``run(pipeline, params, overrides)`` on Ray or in the debug mode; with
    ``native=True`` the pipeline is first turned into its async-def twin (``prepare``)."""

    def __init__(self, debug: bool | str = False, *, num_cpus: int = 2,
                 native: bool = False) -> None:
        self.debug = debug
        self.num_cpus = num_cpus
        self.native = native
        self.name = {False: "ray", True: "ray-debug", "serialize": "ray-serialize"}[debug] \
            + ("-native" if native else "")

    def prepare(self, pipeline: Any) -> Any:
        if not self.native:
            return pipeline
        from .asyncify import asyncify

        return asyncify(pipeline)

    def run(self, pipeline: Any, params: Any, overrides: Any = None) -> Any:
        from ..distributed.driver import ray_run  # Ray is optional: imported when used

        if not self.debug:
            ensure_ray(self.num_cpus)
        # The suite compares runners under the same options, and some cases return
        # values their annotations do not allow on purpose: the debug modes' default
        # type check is tested on its own (tests/engine/test_type_checks.py).
        return ray_run(pipeline, params, overrides, debug=self.debug, check_types=False)


def ensure_ray(num_cpus: int = 2) -> None:
    """Start one local Ray for the whole test session (each start costs seconds)."""
    import ray

    if not ray.is_initialized():
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 logging_level="WARNING")
