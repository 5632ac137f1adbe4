"""Runner adapters for the conformance suite: ``run(pipeline, params, overrides)``.

A new runner passes the suite by providing an object with that one method and
registering it with ``register_runner``; the Ray runner's modes (``ray``,
``ray-debug``, ``ray-serialize`` and their ``-native`` async twins) are registered
this way when Ray is installed.
"""
from __future__ import annotations

import asyncio
import importlib.util
from typing import Any, Callable

from .asyncify import asyncify


class SyncRunner:
    name = "sync"

    def run(self, pipeline: Any, params: Any, overrides: Any = None) -> Any:
        from ..execution.sync_engine.executor import run

        return run(pipeline, params, overrides)


class AsyncRunner:
    """The asyncio runner; with ``native=True`` the pipeline is first turned into an
    async-def pipeline (``asyncify``), so async steps and async streams are exercised."""

    def __init__(self, native: bool = False) -> None:
        self.native = native
        self.name = "async-native" if native else "async"

    def prepare(self, pipeline: Any) -> Any:
        return asyncify(pipeline) if self.native else pipeline

    def run(self, pipeline: Any, params: Any, overrides: Any = None) -> Any:
        from ..execution.async_engine.executor import async_run

        return asyncio.run(async_run(pipeline, params, overrides))


_FACTORIES: dict[str, Callable[[], Any]] = {
    "sync": SyncRunner,
    "async": AsyncRunner,
    "async-native": lambda: AsyncRunner(native=True),
}


def register_runner(name: str, factory: Callable[[], Any]) -> None:
    """Make another runner available to the suite (``SYNAFLOW_TEST_RUNNERS``)."""
    _FACTORIES[name] = factory


def available_runners() -> list[str]:
    return list(_FACTORIES)


def get_runner(name: str) -> Any:
    if name not in _FACTORIES:
        raise KeyError(f"unknown runner '{name}'; known: {', '.join(_FACTORIES)}")
    return _FACTORIES[name]()


def _ray_runner(debug: bool | str, native: bool = False) -> Callable[[], Any]:
    def factory() -> Any:
        from .ray_runner import RayRunner

        return RayRunner(debug, native=native)
    return factory


# The Ray runner (synaflow[ray]): on a local Ray kept for the session, and its
# in-process debug mode without and with serialisation; each also async-native.
# Registered only when Ray is installed; ``find_spec`` does not import it.
if importlib.util.find_spec("ray") is not None:
    for _name, _debug in (("ray-debug", True), ("ray-serialize", "serialize"), ("ray", False)):
        _FACTORIES[_name] = _ray_runner(_debug)
        _FACTORIES[f"{_name}-native"] = _ray_runner(_debug, native=True)
