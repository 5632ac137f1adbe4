"""Pickled materializer: the slow baseline. The value is stored as pickled ``bytes``.

Every buffer (numpy arrays, Arrow data) is copied into one ``bytes`` object, and each
reader unpickles it again into its declared shape. On the Ray runner that is a copy
on every write and two on every read (the ``bytes`` out of the object store, then
the unpickled value), where the object-store materializer maps the buffers
zero-copy; ``benchmarks/bench_objects.py`` measures the difference. Use it to
compare, or when a value must be frozen at materialization time; not for speed.

    >>> from synaflow.core.types import MaterializeContext
    >>> freeze = pickled_materializer()(MaterializeContext("etl", "rows", int, list[int]))
    >>> stored = freeze(iter([1, 2]))
    >>> type(stored).__name__, freeze.__synaflow_reshape__(stored, "as_is", list[int])
    ('bytes', [1, 2])

The published value (what ``RunResult.outputs`` shows for a terminal step) is the
``bytes``; readers get the value back.
"""
from __future__ import annotations

import pickle
from typing import Any, Callable

from synaflow.core.default_materializers import callable_ref, list_if_iterator
from synaflow.core.types import MaterializeContext
from synaflow.engine.shapes import shape_value

from .object_store import collector_for

__all__ = ["pickled_materializer", "PickledMaterializer", "AsyncPickledMaterializer"]


class PickledMaterializer:
    """Collects like the memory materializer, then pickles the result into ``bytes``
    (``pipeline``/``step`` name the step in errors)."""

    __name__ = "pickled_materializer"

    def __init__(self, collect: Callable[[Any], Any] = list_if_iterator, *,
                 pipeline: str = "", step: str = "") -> None:
        self.collect = collect
        self.pipeline = pipeline
        self.step = step

    def __call__(self, value: Any) -> Any:
        return self.dump(self.collect(value))

    def dump(self, value: Any) -> bytes:
        """``value`` pickled, buffers in band (one copy)."""
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"Pipeline '{self.pipeline}', step '{self.step}': pickled_materializer "
                f"cannot pickle its output ({type(value).__name__}): {type(exc).__name__}: "
                f"{exc}. Return picklable data, or use the memory or object-store "
                "materializer") from exc

    @staticmethod
    def __synaflow_reshape__(value: Any, shape: str, declared_type: Any) -> Any:
        """A reader gets the value unpickled, in its declared shape."""
        return shape_value(pickle.loads(value), shape, default_materializer=True)

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        spec = callable_ref(self.collect)
        return None if spec is None else {
            "ref": f"{__name__}:{type(self).__qualname__}",
            "kwargs": {"collect": spec, "pipeline": self.pipeline, "step": self.step}}


class AsyncPickledMaterializer(PickledMaterializer):
    """The same in an async pipeline, which awaits its materializers."""

    async def __call__(self, value: Any) -> bytes:  # type: ignore[override]
        return self.dump(await self.collect(value))


def _pickled_factory(ctx: MaterializeContext) -> PickledMaterializer:
    cls = AsyncPickledMaterializer if ctx.is_async_pipeline else PickledMaterializer
    return cls(collector_for(ctx), pipeline=ctx.pipeline_name, step=ctx.dataset_name)


_pickled_factory.__name__ = "pickled_materializer"
_pickled_factory.__synaflow_delivers__ = lambda declared_type: False  # type: ignore


def pickled_materializer() -> Callable[[MaterializeContext], PickledMaterializer]:
    """The pickled factory (``__name__ == "pickled_materializer"``): the anti-baseline.

    Usage: ``step("tables", fn=tables, materializer=pickled_materializer())``.
    """
    return _pickled_factory
