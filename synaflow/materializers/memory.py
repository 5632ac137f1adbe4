"""In-memory materializer: collect a stream into the collection its consumer asks for."""
from __future__ import annotations

from typing import Any, Callable

from synaflow.core.default_materializers import memory_materializer_factory
from synaflow.core.types import MaterializeContext

__all__ = ["memory_materializer", "memory_materializer_factory"]


def memory_materializer() -> Callable[[MaterializeContext], Any]:
    """The memory factory (``__name__ == "memory_materializer"``), spec 06 §2.

    It picks ``list``/``set``/``dict``/``tuple``/identity from the consumer's
    declared type at build time.

        >>> memory_materializer().__name__
        'memory_materializer'

    Usage: ``step("load", fn=load, materializer=memory_materializer())``.
    """
    return memory_materializer_factory
