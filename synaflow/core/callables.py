"""What a step's callable is: the function that describes it and its call kind.

The lowest layer of ``synaflow.core`` (no imports from it), so the compiled ``Dag``
can ask it too (a ``DagNode`` built by hand takes its kind from its function).
"""
from __future__ import annotations

import functools
import inspect
from typing import Any

__all__ = ["unwrap_callable", "fn_kind", "is_async_callable"]


def _describes_itself(fn: Any) -> bool:
    """A callable object carrying its own ``__signature__`` or ``__annotations__`` (a
    ``MagicMock`` set up as a step, as 0.32.4's users do) is read from those, not from
    its class's ``__call__``."""
    own = getattr(fn, "__dict__", None)
    return isinstance(own, dict) and ("__signature__" in own or "__annotations__" in own)


def unwrap_callable(fn: Any) -> Any:
    """The function whose signature and hints describe ``fn`` (partials, instances)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn) \
            or inspect.isclass(fn) or not callable(fn):
        return fn
    wrapped = getattr(fn, "__wrapped__", None)
    if wrapped is not None:  # functools.cache/lru_cache, included steps, other wrappers
        return unwrap_callable(wrapped)
    if _describes_itself(fn):
        return fn
    return getattr(type(fn), "__call__", fn)


def fn_kind(fn: Any) -> str:
    """``sync``, ``sync_generator``, ``async`` or ``async_generator``.

    The object itself is asked first (an ``AsyncMock`` says it is a coroutine function
    although its class's ``__call__`` is not), then what describes it.
    """
    if inspect.isasyncgenfunction(fn):
        return "async_generator"
    if inspect.iscoroutinefunction(fn):
        return "async"
    target = unwrap_callable(fn)
    if inspect.isasyncgenfunction(target):
        return "async_generator"
    if inspect.iscoroutinefunction(target):
        return "async"
    if inspect.isgeneratorfunction(target):
        return "sync_generator"
    return "sync"


def is_async_callable(obj: Any) -> bool:
    """Coroutine or async-generator function, an instance whose ``__call__`` is, or a partial."""
    return fn_kind(obj) in ("async", "async_generator")


