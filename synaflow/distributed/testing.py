"""The Ray runner for the conformance suite (``synaflow.testing``).

``register()`` adds three runners: ``ray`` (a local Ray started once, kept for the
session), ``ray-debug`` (in-process) and ``ray-serialize`` (in-process, every value
through Ray's serializer), and their async-native twins (``ray-native``,
``ray-debug-native``, ``ray-serialize-native``), which run the generated async-def
version of each case (``synaflow.testing.asyncify``).

    >>> from synaflow.distributed.testing import register   # doctest: +SKIP
    >>> register()                                           # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Any

from .driver import ray_run


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
        from ..testing.asyncify import asyncify

        return asyncify(pipeline)

    def run(self, pipeline: Any, params: Any, overrides: Any = None) -> Any:
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


def register() -> None:
    """Make ``ray``, ``ray-debug`` and ``ray-serialize`` available to the suite."""
    from ..testing.runners import register_runner

    for debug in (False, True, "serialize"):
        for native in (False, True):
            runner = RayRunner(debug, native=native)
            register_runner(runner.name, lambda d=debug, n=native: RayRunner(d, native=n))
