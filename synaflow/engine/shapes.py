"""What each consumer receives from a materialized producer (ConsumerContract.shape)."""
from __future__ import annotations

from typing import Any, AsyncIterator, Callable


async def _aiter_over(values: Any) -> AsyncIterator[Any]:
    for value in values:
        yield value


def _keep_or(kind: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return value if type(value) is kind else kind(value)
    return convert


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "list": _keep_or(list), "set": _keep_or(set), "tuple": _keep_or(tuple),
    "dict": _keep_or(dict), "iter": iter, "aiter": _aiter_over,
}


def shape_value(value: Any, shape: str, *, default_materializer: bool,
                reshape: Callable[[Any, str, Any], Any] | None = None,
                declared_type: Any = None) -> Any:
    """Convert a collected value for one consumer.

    Collections are converted only when the producer used the default in-memory
    materializer (a custom materializer's result is what every consumer gets);
    stream consumers always get an iterator over the collection.

    Extension point: a materializer that defines
    ``__synaflow_reshape__(value, shape, declared_type)`` shapes its own result for
    each consumer; the engine passes that method as ``reshape`` together with the
    consumer's declared type, and it replaces the rules above (e.g. the Arrow
    materializer turns its Table into batches or rows).
    """
    if reshape is not None and value is not None:
        return reshape(value, shape, declared_type)
    if value is None or shape in ("as_is", "items"):
        return value
    if shape in ("iter", "aiter") or default_materializer:
        return _CONVERT[shape](value)
    return value
