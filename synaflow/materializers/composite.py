"""Run several materializers (or error materializers) for the same step.

    >>> from synaflow.materializers.composite import composite_materializer
    >>> from synaflow.materializers.memory import memory_materializer
    >>> from synaflow.core.types import MaterializeContext
    >>> factory = composite_materializer(memory_materializer(), None)
    >>> run = factory(MaterializeContext("etl", "rows", list, consumer_type=set[int]))
    >>> run.__name__, run(iter([1, 1, 2]))
    ('run_composite_materializers_sync', {1, 2})

Stages are not chained: every stage receives the same input (a lazy iterator
is listed first), and the composite returns the last stage's result, or the
input when that result is ``None`` (so a side-effect-only stage such as a
logger can come last).
"""
from __future__ import annotations

import copy

import inspect
from typing import Any, AsyncIterator, Callable, Iterable

from synaflow.core.default_materializers import (callable_ref, collect_async, list_if_iterator,
                                                 resolve_factory)
from synaflow.core.protocols import implements
from synaflow.core.signatures import is_async_callable
from synaflow.core.types import ErrorContext, ErrorMaterializeContext, MaterializeContext

__all__ = ["composite_materializer", "composite_error_materializer",
           "CompositeMaterializer", "AsyncCompositeMaterializer",
           "CompositeErrorMaterializer", "AsyncCompositeErrorMaterializer",
           "CompositeMaterializerFactory", "CompositeErrorMaterializerFactory"]


class _Composite:
    """An ordered tuple of stages that can describe itself when every stage can."""

    def __init__(self, stages: Iterable[Any]) -> None:
        self.stages = tuple(stages)

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        """Rebuild spec; ``None`` when any stage cannot be described."""
        specs = [callable_ref(stage) for stage in self.stages]
        if any(spec is None for spec in specs):
            return None
        return {"ref": f"{type(self).__module__}:{type(self).__qualname__}",
                "kwargs": {"stages": specs}}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.stages == self.stages  # type: ignore[attr-defined]

    # A stage whose path names params fields is checked and filled like a lone one.
    def __synaflow_template_fields__(self) -> list[str]:
        return [field for stage in self.stages
                for field in _hook(stage, "__synaflow_template_fields__", list)()]

    def __synaflow_for_run__(self, params: Any) -> "_Composite":
        if not self.__synaflow_template_fields__():
            return self
        filled = copy.copy(self)
        filled.stages = tuple(_hook(stage, "__synaflow_for_run__", lambda _: stage)(params)
                              for stage in self.stages)
        return filled

    def __synaflow_run_started__(self, run_id: str) -> None:
        for stage in self.stages:
            _hook(stage, "__synaflow_run_started__", lambda _: None)(run_id)

    def __hash__(self) -> int:
        return hash((type(self), len(self.stages)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.stages)!r})"


def _hook(stage: Any, name: str, default: Callable[..., Any]) -> Callable[..., Any]:
    return getattr(stage, name, None) or default


async def _await_if_needed(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _replay(items: list[Any]) -> AsyncIterator[Any]:
    """A fresh async iterator over already collected items, one per async stage."""
    for item in items:
        yield item


# -- materializers ----------------------------------------------------------------------
class CompositeMaterializer(_Composite):
    """Sync composite: same input to every stage; last result, or the input if it is None."""

    __name__ = "run_composite_materializers_sync"

    def __call__(self, value: Any) -> Any:
        value = list_if_iterator(value)
        result = None
        for stage in self.stages:
            result = stage(value)
        return value if result is None else result


class AsyncCompositeMaterializer(_Composite):
    """Async composite: the stream is collected once and offered to every stage.

    Async stages receive a fresh async iterator over the collected items (what
    they would get without the composite); sync stages receive the list.
    """

    __name__ = "run_composite_materializers_async"

    async def __call__(self, value: Any) -> Any:
        was_stream = implements(value, "__aiter__")
        value = await collect_async(value)
        result = None
        for stage in self.stages:
            given = _replay(value) if was_stream and is_async_callable(stage) else value
            result = await _await_if_needed(stage(given))
        return value if result is None else result


# -- error materializers ----------------------------------------------------------------
class CompositeErrorMaterializer(_Composite):
    """Calls every error materializer with the same ``ErrorContext``, in order."""

    __name__ = "run_composite_error_materializers_sync"

    def __call__(self, error_ctx: ErrorContext) -> None:
        for stage in self.stages:
            stage(error_ctx)


class AsyncCompositeErrorMaterializer(_Composite):
    """Async twin of ``CompositeErrorMaterializer``; sync stages are simply called."""

    __name__ = "run_composite_error_materializers_async"

    async def __call__(self, error_ctx: ErrorContext) -> None:
        for stage in self.stages:
            await _await_if_needed(stage(error_ctx))


# -- factories ---------------------------------------------------------------------------
class _CompositeFactory(_Composite):
    """Resolves every stage with the same context, then picks the sync or async runner."""

    __name__ = "factory"
    _sync_runner: type[_Composite]
    _async_runner: type[_Composite]

    def _resolve(self, ctx: MaterializeContext | ErrorMaterializeContext) -> _Composite:
        resolved = (resolve_factory(stage, ctx) for stage in self.stages)
        stages = tuple(stage for stage in resolved if stage is not None)
        # An async pipeline needs an awaitable runner even when every stage is sync.
        if ctx.is_async_pipeline or any(is_async_callable(stage) for stage in stages):
            return self._async_runner(stages)
        return self._sync_runner(stages)


class CompositeMaterializerFactory(_CompositeFactory):
    """Factory returned by ``composite_materializer``."""

    _sync_runner = CompositeMaterializer
    _async_runner = AsyncCompositeMaterializer

    def __call__(self, ctx: MaterializeContext) -> _Composite:
        return self._resolve(ctx)


class CompositeErrorMaterializerFactory(_CompositeFactory):
    """Factory returned by ``composite_error_materializer``."""

    _sync_runner = CompositeErrorMaterializer
    _async_runner = AsyncCompositeErrorMaterializer

    def __call__(self, ctx: ErrorMaterializeContext) -> _Composite:
        return self._resolve(ctx)


def composite_materializer(*materializers: Callable[..., Any] | None) -> CompositeMaterializerFactory:
    """Combine materializers and/or factories; ``None`` entries are skipped.

    Usage: ``step("rows", fn=rows, materializer=composite_materializer(
    disk_materializer("out", jsonl_serializer), memory_materializer()))`` keeps a
    copy on disk and hands the in-memory collection to the consumers.
    """
    return CompositeMaterializerFactory(m for m in materializers if m is not None)


def composite_error_materializer(
        *error_materializers: Callable[..., Any] | None) -> CompositeErrorMaterializerFactory:
    """Combine error materializers and/or their factories; each gets every error, in order.

    >>> from synaflow.materializers.errors import log_error_materializer
    >>> composite_error_materializer(log_error_materializer()).__name__
    'factory'
    """
    return CompositeErrorMaterializerFactory(m for m in error_materializers if m is not None)
