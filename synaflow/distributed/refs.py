"""References to values that live elsewhere: Ray object refs or debug-mode refs.

``Remote`` is what the driver publishes into ``RunCore`` for a value that stays in
the object store. ``RunCore`` may read an attribute of it (steps of an included
pipeline read fields of their params) or shape it for a consumer; both are
recorded and applied by the worker that reads the value (``remote_view``).

``LocalRef`` is the debug transport's object ref: a future inside this process.
With ``serialize`` on, what it holds went through Ray's serializer.
"""
from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future
from typing import Any

from ..engine.shapes import shape_value


class Remote:
    """A value held by ``ref``, with the attribute path and consumer shape to apply."""

    __slots__ = ("ref", "path", "shape")

    def __init__(self, ref: Any, path: tuple = (), shape: tuple | None = None) -> None:
        self.ref = ref
        self.path = path
        self.shape = shape

    def __getattr__(self, name: str) -> "Remote":
        if name.startswith("__"):
            raise AttributeError(name)
        return Remote(self.ref, self.path + (name,), self.shape)

    def __reduce__(self):
        return (Remote, (self.ref, self.path, self.shape))

    def __repr__(self) -> str:
        return f"Remote({self.ref!r}, path={self.path}, shape={self.shape})"


def defer_shape(value: Any, shape: str, **how: Any) -> Any:
    """``RunCore``'s shape hook: shape remote values where they are read. ``how`` are
    ``shape_value``'s keywords (``default_materializer``, a materializer's own
    ``reshape``, the consumer's ``declared_type``)."""
    if isinstance(value, Remote):
        return Remote(value.ref, value.path, (shape, how))
    return shape_value(value, shape, **how)


def remote_view(remote: Remote, value: Any) -> Any:
    """Apply a ``Remote``'s shape, then its attribute path, to the fetched value."""
    if remote.shape is not None:
        value = shape_value(value, remote.shape[0], **remote.shape[1])
    for name in remote.path:
        value = getattr(value, name)
    return value


# -- the debug transport's refs ---------------------------------------------------------
_REGISTRY: dict[int, "LocalRef"] = {}
_REGISTRY_LOCK = threading.Lock()
_IDS = itertools.count(1)


def _lookup(ref_id: int) -> "LocalRef":
    with _REGISTRY_LOCK:
        return _REGISTRY[ref_id]


def forget(ref_ids: list[int]) -> None:
    """Drop registry entries of a finished debug run."""
    with _REGISTRY_LOCK:
        for ref_id in ref_ids:
            _REGISTRY.pop(ref_id, None)


class LocalRef:
    """A debug-mode object ref: element ``index`` of a future's result (or all of it).

    Pickled (in ``serialize`` mode) as a registry lookup, the way a Ray ref pickles
    as an id: the value itself is never copied through a reference. The transport
    that made it drops the entry when its run ends (``forget``).
    """

    __slots__ = ("future", "index", "loads", "id", "__weakref__")

    def __init__(self, future: Future, index: int | None = None, loads: Any = None) -> None:
        self.future = future
        self.index = index
        self.loads = loads
        self.id = next(_IDS)

    def get(self) -> Any:
        value = self.future.result()
        if self.index is not None:
            value = value[self.index]
        return self.loads(value) if self.loads is not None else value

    def done(self) -> bool:
        return self.future.done()

    def __reduce__(self):
        with _REGISTRY_LOCK:
            _REGISTRY[self.id] = self
        return (_lookup, (self.id,))

    def __repr__(self) -> str:
        return f"LocalRef({self.id})"


def fetch(refs: list) -> list:
    """Values of ``refs`` (all Ray refs or all debug refs)."""
    if not refs:
        return []
    if isinstance(refs[0], LocalRef):
        return [r.get() for r in refs]
    import ray

    return ray.get(list(refs))
