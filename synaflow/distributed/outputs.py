"""Reading a run's outputs back into the driver, once the run is over.

Published values stay where they are (object store, or slices of a drained stream)
until somebody reads them: ``RunResult.outputs`` (terminal and exported steps) is
read when the run ends; ``all_outputs`` and ``RayPipelineExecutor.outputs`` are
read key by key, on access.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .refs import Remote, fetch, remote_view
from .stages import TerminalItems
from .streams import StreamIn
from .worker import read_all


def resolve(value: Any) -> Any:
    """A published value as the sync runner would hold it (a lazy stream: None)."""
    if isinstance(value, Remote):
        return remote_view(value, fetch([value.ref])[0])
    if isinstance(value, TerminalItems):
        return read_all(value.slices)
    if isinstance(value, StreamIn):
        return None
    return value


def resolve_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {name: resolve(value) for name, value in outputs.items()}


class Resolved(Mapping):
    """Published values, fetched from the object store when read (and kept).

    ``released``: keys of intermediate values the run dropped from the object store
    once their readers were done (``lifetime.Lifetimes``); reading one raises a
    ``KeyError`` that says so."""

    def __init__(self, values: dict[str, Any], released: set[str] | None = None) -> None:
        self._values = values
        self._cache: dict[str, Any] = {}
        self._released = released or set()

    def __getitem__(self, key: str) -> Any:
        if key not in self._values and key in self._released:
            raise KeyError(
                f"{key!r}: this intermediate value was released from Ray's object store "
                "once its readers were done (values are run-scoped). To keep it, make "
                "its step terminal or the pipeline's exports, or run it locally")
        if key not in self._cache:
            self._cache[key] = resolve(self._values[key])
        return self._cache[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
