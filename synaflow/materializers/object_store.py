"""Object-store materializer: a value placed once in Ray's object store, read zero-copy.

On the Ray runner (``synaflow.distributed.ray_run``) a step with this materializer
leaves its value in the object store, whatever its size: numpy arrays and Arrow
buffers are written there once, out of band, and every reader on the same node maps
them read-only, without a copy (no pickled ``bytes``). The value lives as long as
the run needs it: the run drops it when its last reader is done, and at the latest
when the run ends (values in ``RunResult.outputs`` are read back first).

On the sync and async runners it is the memory materializer: the collection (or
value) is held in memory and each reader gets the shape it declares.

    >>> from synaflow.core.types import MaterializeContext
    >>> collect = object_store_materializer()(MaterializeContext("etl", "rows", int,
    ...                                                          list[int]))
    >>> collect.__name__, collect(iter([2, 1, 2]))
    ('object_store_materializer', [2, 1, 2])
    >>> collect.__synaflow_reshape__([2, 1, 2], "set", set[int])
    {1, 2}

Without it, the Ray runner already keeps every value output of at least
``object_store_threshold`` bytes (default 1 MiB) in the object store; smaller ones
come back to the driver inline. This materializer makes the store the rule for one
step. Like every materializer it applies to a *materialized* output (a reader asks
for a collection, or ``force_materialize=True``).
"""
from __future__ import annotations

from typing import Any, Callable

from synaflow.core.default_materializers import callable_ref, collect_async, list_if_iterator
from synaflow.core.types import MaterializeContext
from synaflow.engine.shapes import shape_value

__all__ = ["object_store_materializer", "ObjectStoreMaterializer",
           "AsyncObjectStoreMaterializer", "collector_for"]


def collector_for(ctx: MaterializeContext) -> Callable[[Any], Any]:
    """What the memory materializer keeps: the collected items as a list (a stream,
    also an async one), a value as it is. Readers are shaped from it one by one."""
    return collect_async if ctx.is_async_pipeline else list_if_iterator


class ObjectStoreMaterializer:
    """The resolved materializer: collects like the memory one, shapes per reader,
    and tells the Ray runner to keep the value in the object store."""

    __name__ = "object_store_materializer"
    __synaflow_object_store__ = True  # read by the Ray runner (distributed/driver.py)

    def __init__(self, collect: Callable[[Any], Any] = list_if_iterator) -> None:
        self.collect = collect

    def __call__(self, value: Any) -> Any:
        return self.collect(value)

    @staticmethod
    def __synaflow_reshape__(value: Any, shape: str, declared_type: Any) -> Any:
        """Each reader gets its declared shape, as from the memory materializer."""
        return shape_value(value, shape, default_materializer=True)

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        spec = callable_ref(self.collect)
        return None if spec is None else {
            "ref": f"{__name__}:{type(self).__qualname__}", "kwargs": {"collect": spec}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(collect={getattr(self.collect, '__name__', '?')})"


class AsyncObjectStoreMaterializer(ObjectStoreMaterializer):
    """The same in an async pipeline, which awaits its materializers."""

    def __init__(self, collect: Callable[[Any], Any] = collect_async) -> None:
        super().__init__(collect)

    async def __call__(self, value: Any) -> Any:  # type: ignore[override]
        return await self.collect(value)


def _object_store_factory(ctx: MaterializeContext) -> ObjectStoreMaterializer:
    cls = AsyncObjectStoreMaterializer if ctx.is_async_pipeline else ObjectStoreMaterializer
    return cls(collector_for(ctx))


_object_store_factory.__name__ = "object_store_materializer"
# Build-time hook: it delivers no type beyond the plain rules, but shapes per reader,
# so readers may ask for different collections (no common-type check).
_object_store_factory.__synaflow_delivers__ = lambda declared_type: False  # type: ignore


def object_store_materializer() -> Callable[[MaterializeContext], ObjectStoreMaterializer]:
    """The object-store factory (``__name__ == "object_store_materializer"``).

    Usage: ``step("tables", fn=tables, materializer=object_store_materializer())``.
    """
    return _object_store_factory
