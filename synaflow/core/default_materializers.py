"""Build-time defaults for materializers, factory detection and callable references.

Pure build-time code: no I/O at import, never imports asyncio, ray or pyarrow
(``async def``/``async for`` need no asyncio import).

Defaults
--------
- ``memory_materializer_factory(ctx)`` (``__name__ == "memory_materializer"``)
  picks ``list``/``set``/``dict``/``tuple``/``_identity`` from
  ``ctx.consumer_type`` (spec 06 §2); in async pipelines it returns one of the
  module-level coroutine functions named ``async_collection``.
- ``log_error_materializer_factory(ctx)`` (``__name__ ==
  "log_error_materializer"``) resolves to ``log_error`` (or its awaitable twin,
  also named ``log_error``, in async pipelines).

Factories
---------
``is_factory(fn)`` says whether ``fn`` wants a context at build time;
``resolve_factory(fn, ctx)`` calls it if so.

The reference convention (``__synaflow_ref__``)
-----------------------------------------------
Every resolved materializer should be describable in the JSON contract so
that another process (a Ray worker, an Airflow task) can rebuild it. A
description ("spec") is a JSON-serialisable dict::

    {"ref": "package.module:qualname"}                    # the object itself
    {"ref": "package.module:qualname", "kwargs": {...}}   # call it with kwargs

``load_ref(spec)`` imports ``ref``; when ``"kwargs"`` is present it calls the
imported object with them. Any dict with a ``"ref"`` key found inside
``kwargs`` (also inside lists and plain dicts there) is itself loaded first,
so a serializer travels as ``{"ref": "synaflow.serializers.json:json_serializer"}``.

``callable_ref(obj)`` finds the spec of ``obj``, in this order:

1. module-level functions, classes and builtins whose ``module:qualname``
   imports back to the same object (``list``, ``_identity``, ``log_error``);
2. module-level instances, found as a global of their class's module
   (``json_serializer`` -> ``synaflow.serializers.json:json_serializer``);
3. otherwise ``obj.__synaflow_ref__()`` (a method, or a dict attribute): the
   object describes how to rebuild itself. It may return ``None`` when it
   cannot (e.g. it wraps a serializer that has no spec).

Lambdas, closures, ``functools.partial`` objects and bound methods give
``None``: they cannot be rebuilt from a name.
"""
from __future__ import annotations

import collections.abc as cabc
import importlib
import inspect
import logging
import sys
import traceback
import types
import typing
from typing import Any, Callable

from .exceptions import ContractLoadError, PipelineDefinitionError
from .protocols import implements, is_iterator
from .signatures import qualified_ref
from .types import ErrorContext, ErrorMaterializeContext, MaterializeContext

logger = logging.getLogger("synaflow")

__all__ = [
    "memory_materializer_factory", "log_error_materializer_factory", "log_error",
    "is_factory", "resolve_factory", "callable_ref", "load_ref",
    "collect_async", "list_if_iterator", "format_exception_text",
]


# -- small shared helpers ---------------------------------------------------------------
def _identity(x: Any) -> Any:
    """The scalar materializer: hands the value over unchanged."""
    return x


def list_if_iterator(value: Any) -> Any:
    """A lazy iterator becomes a list (it could only be read once); other values pass."""
    return list(value) if is_iterator(value) else value


async def collect_async(value: Any) -> Any:
    """Collect an async iterable or a sync iterator into a list; other values pass."""
    if implements(value, "__aiter__"):
        return [item async for item in value]
    return list_if_iterator(value)


def format_exception_text(exc: BaseException) -> str:
    """The traceback of ``exc`` itself.

    ``traceback.format_exc()`` would describe the exception being handled *now*,
    which is nothing (``NoneType: None``) once the engine has left the ``except``.
    """
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# -- the memory factory ---------------------------------------------------------------
# Protocols that only promise iteration: the collected list is what the consumer gets.
_LIST_PROTOCOLS = frozenset({cabc.Iterator, cabc.Iterable, cabc.AsyncIterator,
                             cabc.AsyncIterable})
_COLLECTIONS: tuple[tuple[type, Callable[..., Any]], ...] = (
    (cabc.MutableSequence, list), (cabc.MutableSet, set), (cabc.MutableMapping, dict))
# Generators cannot be rebuilt from collected items, and Sequence does not say
# whether a list or a tuple is wanted: refuse instead of guessing (spec 06 §2).
_GENERATORS = (cabc.Generator, cabc.AsyncGenerator)
_AMBIGUOUS = frozenset({cabc.Sequence})


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _constructor_for(tp: Any) -> Callable[[Any], Any] | None:
    """The constructor for a consumer type, or ``None`` when it cannot be inferred."""
    if tp is None:
        return None
    tp = _strip_annotated(tp)
    # Unions keep 0.32.4's behaviour: the collected value is handed over as is.
    if tp is Any or _is_union(tp):
        return _identity
    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type):  # TypeVar, Literal, NewType, forward-ref strings
        return _identity
    if origin in _AMBIGUOUS or issubclass(origin, _GENERATORS):
        return None
    if origin is tuple:
        return tuple
    for base, constructor in _COLLECTIONS:
        if issubclass(origin, base):
            return constructor
    return list if origin in _LIST_PROTOCOLS else _identity


def _why_not_inferable(tp: Any) -> str:
    if tp is None:
        return ("no consumer declares a type for it (a pipeline-level materializer= "
                "also reaches steps that have no consumer at all)")
    origin = typing.get_origin(tp) or tp
    if origin in _AMBIGUOUS:
        return "Sequence does not say which collection to build (list or tuple)"
    return "a generator cannot be rebuilt from already collected items"


def _uninferable_error(ctx: MaterializeContext) -> PipelineDefinitionError:
    tp = ctx.consumer_type
    return PipelineDefinitionError(
        f"Cannot infer memory materializer for consumer type: '{tp}'. "
        f"Step '{ctx.dataset_name}' of pipeline '{ctx.pipeline_name}' must collect its "
        f"output for its consumers, but {_why_not_inferable(tp)}",
        pipeline=ctx.pipeline_name, step=ctx.dataset_name, prefix=False,
        fix=(f"annotate the consumer parameter with Iterator[...] (stream) or list[...] "
             f"(whole collection), or pass materializer= to step '{ctx.dataset_name}'"))


def _async_collection_for(constructor: Callable[[Any], Any], attr: str) -> Any:
    """A module-level ``async_collection`` for one constructor.

    One coroutine function per constructor (instead of a closure per step) keeps
    ``inspect.iscoroutinefunction`` true and makes each one importable by
    ``module:qualname``, so the JSON contract can name it.
    """
    async def async_collection(stream: Any) -> Any:
        return constructor(await collect_async(stream))

    async_collection.__qualname__ = attr
    return async_collection


_async_list = _async_collection_for(list, "_async_list")
_async_set = _async_collection_for(set, "_async_set")
_async_dict = _async_collection_for(dict, "_async_dict")
_async_tuple = _async_collection_for(tuple, "_async_tuple")
_async_identity = _async_collection_for(_identity, "_async_identity")
_ASYNC_COLLECTIONS: dict[Any, Any] = {list: _async_list, set: _async_set, dict: _async_dict,
                                      tuple: _async_tuple, _identity: _async_identity}


def memory_materializer_factory(ctx: MaterializeContext) -> Callable[[Any], Any]:
    """Choose the in-memory collection for ``ctx.consumer_type`` (spec 06 §2).

    >>> from synaflow.core.types import MaterializeContext
    >>> memory_materializer_factory(MaterializeContext("p", "s", int, list[int]))
    <class 'list'>
    """
    constructor = _constructor_for(ctx.consumer_type)
    if constructor is None:
        raise _uninferable_error(ctx)
    if ctx.is_async_pipeline:
        return _ASYNC_COLLECTIONS[constructor]
    return constructor


memory_materializer_factory.__name__ = "memory_materializer"


# -- the log error materializer -------------------------------------------------------
def log_error(error_ctx: ErrorContext) -> None:
    """Log one WARNING per recorded error on logger ``synaflow`` (traceback at DEBUG)."""
    exc = error_ctx.exception
    where = [error_ctx.pipeline_name, error_ctx.step_name, error_ctx.run_id]
    if error_ctx.dataset_name != error_ctx.step_name:  # the step's name once, not twice
        where.insert(1, error_ctx.dataset_name)
    item = getattr(error_ctx, "item_index", None)
    on = "" if item is None else f" on item {item}" + (
        f" ({error_ctx.item})" if getattr(error_ctx, "item", None) is not None else "") + ":"
    logger.warning("%s%s %s: %s", " ".join(f"[{w}]" for w in where), on,
                   type(exc).__name__, exc)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", format_exception_text(exc))


async def _log_error_async(error_ctx: ErrorContext) -> None:
    """``log_error`` for async pipelines, which await their error materializers."""
    log_error(error_ctx)


# Shown as "log_error" in the contract; the qualname keeps it importable.
_log_error_async.__name__ = "log_error"


def log_error_materializer_factory(ctx: ErrorMaterializeContext) -> Callable[..., Any]:
    """Resolve to ``log_error``, awaitable in async pipelines."""
    return _log_error_async if ctx.is_async_pipeline else log_error


log_error_materializer_factory.__name__ = "log_error_materializer"


# -- factory detection ----------------------------------------------------------------
def _wants_context(param: inspect.Parameter) -> bool:
    annotation = "" if param.annotation is param.empty else str(param.annotation)
    if "MaterializeContext" in annotation:
        return True
    # An error materializer written as ``def record(ctx: ErrorContext)`` takes the
    # run-time error, not a build-time context (0.32.4 called it at build time).
    if annotation.endswith("ErrorContext") or "ErrorContext'" in annotation:
        return False
    return param.name in ("ctx", "context")


def is_factory(fn: Any) -> bool:
    """True if ``fn`` is a (error) materializer factory, i.e. wants a context at build time.

    A parameter named ``ctx``/``context``, or annotated with a type whose string
    form contains ``MaterializeContext``, marks a factory. Callables without an
    inspectable signature (``list``) are plain materializers.

    >>> is_factory(memory_materializer_factory), is_factory(list), is_factory(log_error)
    (True, False, False)
    """
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(_wants_context(p) for p in params)


def resolve_factory(fn: Any, ctx: MaterializeContext | ErrorMaterializeContext) -> Any:
    """``fn(ctx)`` if ``fn`` is a factory, else ``fn`` itself (``None`` stays ``None``)."""
    if fn is not None and is_factory(fn):
        return fn(ctx)
    return fn


# -- references: describe a callable in JSON, load it back ----------------------------
def _global_name_ref(obj: Any) -> str | None:
    """``module:name`` of a module-level instance (e.g. a serializer singleton)."""
    cls = type(obj)
    if cls.__module__ == "builtins" or isinstance(obj, type) or inspect.isroutine(obj):
        return None
    module = sys.modules.get(cls.__module__)
    for name, value in vars(module).items() if module else ():
        if value is obj and not name.startswith("__"):
            return f"{cls.__module__}:{name}"
    return None


def _declared_ref(obj: Any) -> dict[str, Any] | None:
    declared = getattr(obj, "__synaflow_ref__", None)
    if declared is None or isinstance(obj, type):
        return None
    spec = declared() if callable(declared) else declared
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("ref"), str):
        raise TypeError(f"{obj!r}.__synaflow_ref__ must give a dict with a 'ref' string "
                        f"(or None), got {spec!r}")
    return spec


def callable_ref(obj: Any) -> dict[str, Any] | None:
    """The JSON spec that rebuilds ``obj`` (see the module docstring), or ``None``.

    >>> callable_ref(list)
    {'ref': 'builtins:list'}
    >>> callable_ref(lambda x: x) is None
    True
    """
    if obj is None:
        return None
    ref = qualified_ref(obj) or _global_name_ref(obj)
    if ref is not None:
        return {"ref": ref}
    return _declared_ref(obj)


def _import_ref(ref: str) -> Any:
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise ContractLoadError(f"Invalid reference '{ref}': expected 'package.module:qualname'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ContractLoadError(
            f"Cannot load reference '{ref}': {type(exc).__name__}: {exc}. Make sure module "
            f"'{module_name}' is importable in this process and defines '{qualname}' at "
            "module level") from exc
    return target


def _load_value(value: Any) -> Any:
    """Load nested specs inside kwargs; plain JSON values pass unchanged."""
    if isinstance(value, dict):
        if isinstance(value.get("ref"), str):
            return load_ref(value)
        return {key: _load_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_load_value(item) for item in value]
    return value


def load_ref(spec: dict[str, Any] | str) -> Any:
    """Rebuild an object from a spec made by ``callable_ref`` (a bare ``"mod:name"`` works too).

    >>> load_ref({"ref": "builtins:list"}) is list
    True
    """
    if isinstance(spec, str):
        spec = {"ref": spec}
    target = _import_ref(spec["ref"])
    if "kwargs" not in spec:
        return target
    kwargs = {key: _load_value(value) for key, value in spec["kwargs"].items()}
    try:
        return target(**kwargs)
    except Exception as exc:
        raise ContractLoadError(
            f"Cannot rebuild '{spec['ref']}' from its kwargs {sorted(kwargs)}: "
            f"{type(exc).__name__}: {exc}") from exc
