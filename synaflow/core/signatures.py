"""Reading functions: parameters, resolved type hints, call kind, output type."""
from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import functools
import inspect
import typing
from typing import Any, Callable

from .callables import fn_kind, is_async_callable, unwrap_callable
from .exceptions import PipelineDefinitionError
from .type_compatibility import ListType, get_type_name, is_stream_type

_MISSING = object()


def parameters(fn: Callable[..., Any]) -> list[str]:
    """Parameter names in signature order (``*args``/``**kwargs`` included, as 0.32.4)."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _declares_annotations(fn: Any) -> bool:
    return bool(getattr(fn, "__annotations__", None))


def function_hints(fn: Callable[..., Any], *, pipeline: str, step: str) -> dict[str, Any]:
    """Resolved type hints of a step function; a clear error when they cannot resolve."""
    target = unwrap_callable(fn)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # NameError, TypeError from broken forward references
        if not _declares_annotations(target):
            return {}
        raise PipelineDefinitionError(
            f"Could not resolve the type hints of '{getattr(fn, '__name__', fn)}': "
            f"{type(exc).__name__}: {exc}", pipeline=pipeline, step=step,
            fix="define every annotated type at module level (or import it) so "
                "typing.get_type_hints() can resolve it") from exc


def output_annotation(fn: Any, hints: dict[str, Any]) -> Any:
    """The declared return type; an unannotated generator counts as a bare stream.

    0.32.4 compiled unannotated generator functions as value steps that always
    failed at run time; treating them as streams of unknown items is what users mean.
    """
    declared = hints.get("return", _MISSING)
    if declared is not _MISSING:
        return type(None) if declared is None else declared
    kind = fn_kind(fn)
    if kind == "sync_generator":
        return cabc.Iterator
    if kind == "async_generator":
        return cabc.AsyncIterator
    return None


def each_output_type(declared: Any, *, pipeline: str, step: str) -> Any:
    """EACH steps output one item per row: ``ListType(T)``."""
    if declared is None or declared is type(None):
        return None
    if is_stream_type(declared):
        raise PipelineDefinitionError(
            f"Each-mode steps cannot return stream-like outputs, as nested streams are not "
            f"supported (pipeline '{pipeline}', "
            f"step '{step}' returns {get_type_name(declared)})", pipeline=pipeline, step=step,
            prefix=False,
            fix="return one item per call (EACH already yields a stream of results), or "
                "make the step ALL-mode by annotating its input as Iterator[...]")
    return ListType(declared)


def resource_type(factory: Callable[..., Any]) -> Any:
    """What a resource factory provides; ``@contextmanager`` factories provide the yielded type.

    0.32.4 took ``-> Iterator[T]`` of a context-manager factory literally, which turned
    every consumer into an EACH step over the resource; the yielded ``T`` is meant.
    """
    hints = typing.get_type_hints(unwrap_callable(factory), include_extras=True) \
        if _declares_annotations(unwrap_callable(factory)) else {}
    declared = hints.get("return", _MISSING)
    if declared is _MISSING:
        return _MISSING
    if _is_contextmanager_factory(factory):
        args = typing.get_args(declared)
        origin = typing.get_origin(declared)
        if origin in (cabc.Iterator, cabc.Generator, cabc.AsyncIterator,
                      cabc.AsyncGenerator) and args:
            return args[0]
    return declared


def _is_contextmanager_factory(factory: Any) -> bool:
    wrapped = getattr(factory, "__wrapped__", None)
    if wrapped is None:
        return False
    return inspect.isgeneratorfunction(wrapped) or inspect.isasyncgenfunction(wrapped)


MISSING = _MISSING


def params_fields(params_cls: Any) -> dict[str, Any] | None:
    """Field name -> annotation of a NamedTuple or dataclass class; None if it is neither."""
    if not isinstance(params_cls, type):
        return None
    if dataclasses.is_dataclass(params_cls):
        names = [f.name for f in dataclasses.fields(params_cls)]
    elif issubclass(params_cls, tuple) and hasattr(params_cls, "_fields"):
        names = list(params_cls._fields)
    else:
        return None
    try:
        hints = typing.get_type_hints(params_cls, include_extras=True)
    except Exception:
        hints = dict(getattr(params_cls, "__annotations__", {}))
    return {name: hints.get(name) for name in names}


def callable_name(obj: Any) -> str | None:
    """The name shown in the contract: ``__name__``, else the class name (never an address)."""
    if obj is None:
        return None
    name = getattr(obj, "__name__", None)
    if isinstance(name, str):
        return name
    if isinstance(obj, functools.partial):
        return callable_name(obj.func)
    return type(obj).__name__


def qualified_ref(obj: Any) -> str | None:
    """``module:qualname`` when importing it gives back the same object, else None."""
    if getattr(type(obj), "synaflow_scoped", False):  # an included step's wrapper
        obj = obj.__wrapped__
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    with contextlib.suppress(Exception):
        import importlib

        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        if target is obj or getattr(target, "__func__", None) is getattr(obj, "__func__", obj):
            return f"{module}:{qualname}"
    return None
