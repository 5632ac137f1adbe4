"""Run-time duck typing: does a value implement a protocol?

Decided with ``inspect.getattr_static``, as 0.32.4 did, never with ``hasattr``: a
``MagicMock`` answers every dunder through ``__getattr__``-like proxies, so ``hasattr``
would take a mock resource for a context manager (and hand the step
``mock.__enter__()``) or a mock value for an iterator. A protocol method counts only
when it is really there and callable.
"""
from __future__ import annotations

import inspect
from typing import Any

__all__ = ["implements", "is_iterator", "is_async_iterator", "is_context_manager",
           "is_async_context_manager"]


def implements(value: Any, *methods: str) -> bool:
    """Every one of ``methods`` is a callable attribute found without running code."""
    for name in methods:
        try:
            method = inspect.getattr_static(value, name)
        except AttributeError:
            return False
        if not (callable(method) or isinstance(method, (staticmethod, classmethod))):
            return False
    return True


def is_iterator(value: Any) -> bool:
    return implements(value, "__iter__", "__next__")


def is_async_iterator(value: Any) -> bool:
    return implements(value, "__aiter__", "__anext__")


def is_context_manager(value: Any) -> bool:
    return implements(value, "__enter__", "__exit__")


def is_async_context_manager(value: Any) -> bool:
    return implements(value, "__aenter__", "__aexit__")
