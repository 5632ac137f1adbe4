"""Runner adapters for the conformance suite: ``run(pipeline, params, overrides)``.

A new runner passes the suite by providing an object with that one method and
registering it with ``register_runner``; the Ray runner registers ``ray`` and
``ray-debug`` this way.
"""
from __future__ import annotations

import asyncio
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
