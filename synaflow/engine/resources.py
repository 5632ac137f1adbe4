"""A step's resources for one execution, and the per-row call wrappers: shared by the
local runners and the Ray workers (moved here from the local runners, which the Ray
runner used to import them from).

``Resources`` opens a step's resources synchronously (plain objects, context managers
entered for the call, or per row for an EACH step); ``AsyncResources`` does the same
with awaitable factories and async context managers. ``SingleCall`` and ``RowCall``
mark how an EACH step is called: on the one source's bare items, or on row tuples.
"""
from __future__ import annotations

from typing import Any, Callable

from ..core.protocols import is_async_context_manager, is_context_manager
from ..core.types import StepMode

__all__ = ["Resources", "AsyncResources", "SingleCall", "RowCall", "maybe_await"]


class RowCall:
    """A call per row tuple (several sources, static arguments or per-row resources)."""

    single = False

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, row: Any) -> Any:
        return self.fn(row)


class SingleCall(RowCall):
    """Rows are the items of the one source; ``fn`` takes the item."""

    single = True


async def maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


class Resources:
    """Resources of one step execution: plain objects, entered contexts, per-row contexts."""

    def __init__(self, plan: Any, mode: StepMode) -> None:
        self.values: dict[str, Any] = {}
        self.entered: list[Any] = []
        self.per_row: list[tuple[Any, Any]] = []
        for use in plan.resources:
            obj = use.provider() if callable(use.provider) else use.provider
            if is_async_context_manager(obj) and not is_context_manager(obj):
                raise TypeError(
                    f"resource '{use.name}' produced an async context manager, which the sync "
                    "runner cannot enter; use async_run() or a synchronous context manager")
            if is_context_manager(obj):
                if mode is StepMode.EACH:
                    self.per_row.append((use, obj))
                    continue
                self.values[use.param] = obj.__enter__()
                self.entered.append(obj)
            else:
                self.values[use.param] = obj

    def close(self) -> None:
        while self.entered:
            self.entered.pop().__exit__(None, None, None)

    def row_call(self, fn: Callable[..., Any], plan: Any) -> Callable[[tuple], Any] | None:
        """A per-row call that enters each context-manager resource around the call."""
        if not self.per_row:
            return None
        first = {use.param: obj for use, obj in self.per_row}

        def call(row: tuple) -> Any:
            kwargs = plan.row_kwargs(row)
            contexts = []
            for use, _ in self.per_row:
                obj = first.pop(use.param, None) or use.provider()
                kwargs[use.param] = obj.__enter__()
                contexts.append(obj)
            try:
                return fn(**kwargs)
            finally:
                for obj in reversed(contexts):
                    obj.__exit__(None, None, None)
        return RowCall(call)


class AsyncResources:
    """Resources of one async step execution (awaitable factories, sync/async contexts)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.entered: list[Any] = []
        self.per_row: list[tuple[Any, Any]] = []

    async def open(self, plan: Any, mode: StepMode) -> "AsyncResources":
        for use in plan.resources:
            obj = use.provider() if callable(use.provider) else use.provider
            obj = await maybe_await(obj)
            if _is_context(obj):
                if mode is StepMode.EACH:
                    self.per_row.append((use, obj))
                    continue
                self.values[use.param] = await _enter(obj)
                self.entered.append(obj)
            else:
                self.values[use.param] = obj
        return self

    async def close(self) -> None:
        while self.entered:
            await _exit(self.entered.pop())

    def row_call(self, fn: Any, plan: Any) -> Any:
        if not self.per_row:
            return None
        first = {use.param: obj for use, obj in self.per_row}

        async def call(row: tuple) -> Any:
            kwargs = plan.row_kwargs(row)
            contexts = []
            for use, _ in self.per_row:
                obj = first.pop(use.param, None) or await maybe_await(use.provider())
                kwargs[use.param] = await _enter(obj)
                contexts.append(obj)
            try:
                return await maybe_await(fn(**kwargs))
            finally:
                for obj in reversed(contexts):
                    await _exit(obj)
        return call


def _is_context(obj: Any) -> bool:
    return is_async_context_manager(obj) or is_context_manager(obj)


async def _enter(obj: Any) -> Any:
    if is_async_context_manager(obj):
        return await obj.__aenter__()
    return obj.__enter__()


async def _exit(obj: Any) -> None:
    if is_async_context_manager(obj):
        await obj.__aexit__(None, None, None)
    else:
        obj.__exit__(None, None, None)
