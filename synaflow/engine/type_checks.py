"""Opt-in run-time type checks: ``run(..., check_types=True)`` on every runner.

Wiring checks types once, at build time, against the *annotations*. What a step
really returns is only known at run time: with ``check_types`` each value a step
returns, each item a generator yields and each row an EACH step produces is checked
against the step's declared return type. A mismatch is a ``StepTypeError`` (a
``TypeError``) raised as if by the step, so the step's ``on_error`` applies, the
error context names the item's index, and a STOP error says which item it was.

The check wraps each step's function in a wrapper of the same kind (plain,
generator, async, async generator) with the same signature, in a copy of the Dag:
every runner executes it unchanged, on Ray workers too. Off by default (it looks at
every element of every collection); on by default in ``ray_run``'s debug modes.

    >>> from synaflow.core.exceptions import StepTypeError
    >>> conforms([1, 2], list[int]), conforms([1, "2"], list[int])
    (True, False)
"""
from __future__ import annotations

import collections.abc as cabc
import dataclasses
import functools
import inspect
import types
import typing
from typing import Any, Callable

from ..core.exceptions import StepTypeError
from ..core.frozen import FrozenDict
from ..core.signatures import function_hints

_UNIONS = (typing.Union, types.UnionType)


def conforms(value: Any, tp: Any) -> bool:
    """Does ``value`` fit annotation ``tp``? Unknown or uncheckable forms count as fitting."""
    if tp is Any or tp is object or tp is inspect.Parameter.empty:
        return True
    if tp is None or tp is type(None):
        return value is None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _UNIONS:
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if origin is typing.Literal:
        return value in args
    if origin is None:
        return _plain(value, tp)
    if origin is type:
        return isinstance(value, type) and (not args or not isinstance(args[0], type)
                                            or issubclass(value, args[0]))
    if not isinstance(origin, type):
        return True
    return _isinstance(value, origin) and _items_conform(value, origin, args)


def _plain(value: Any, tp: Any) -> bool:
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is complex:
        return isinstance(value, (int, float, complex)) and not isinstance(value, bool)
    supertype = getattr(tp, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return conforms(value, supertype)
    if isinstance(tp, type):
        return _isinstance(value, tp)
    return True  # a TypeVar, a forward reference left as a string, ...


def _isinstance(value: Any, cls: type) -> bool:
    try:
        return isinstance(value, cls)
    except TypeError:  # a Protocol that is not runtime-checkable
        return True


def _items_conform(value: Any, origin: type, args: tuple) -> bool:
    if not args:
        return True
    if issubclass(origin, (cabc.Iterator, cabc.AsyncIterator, cabc.Generator)) \
            or origin is cabc.Callable:
        return True  # lazy or callable: cannot be looked into without using it
    if issubclass(origin, tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(conforms, value, args))
    if issubclass(origin, cabc.Mapping):
        key, val = (args + (Any,))[:2]
        return all(conforms(k, key) and conforms(v, val) for k, v in value.items())
    if issubclass(origin, (cabc.Collection,)) and not isinstance(value, (str, bytes)):
        return all(conforms(v, args[0]) for v in value)
    return True


def label(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def _found(value: Any) -> str:
    text = repr(value)
    return f"{text[:60] + '...' if len(text) > 63 else text} ({type(value).__name__})"


# -- the wrappers ----------------------------------------------------------------------------
def _item_type(declared: Any) -> Any:
    """``T`` of a generator's ``Iterator[T]`` / ``Generator[T, ...]`` / ``Iterable[T]``."""
    args = typing.get_args(declared)
    return args[0] if args else Any


def _checker(pipeline: str, step: str, declared: Any) -> Callable[[Any, int | None], Any]:
    def check(value: Any, index: int | None) -> Any:
        if not conforms(value, declared):
            where = "returned" if index is None else f"yielded, as item {index} of its output,"
            raise StepTypeError(
                f"Pipeline '{pipeline}', step '{step}' {where} {_found(value)}, but it declares "
                f"{label(declared)}. Fix: return what the annotation says, or change the "
                "annotation (check_types=True checks every value at run time)")
        return value
    return check


def checked_fn(fn: Callable[..., Any], kind: str, pipeline: str, step: str,
               declared: Any) -> Callable[..., Any]:
    """``fn`` with its results checked against ``declared`` (its return annotation)."""
    if kind == "sync":
        check = _checker(pipeline, step, declared)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            return check(fn(*args, **kwargs), None)
        return call
    check = _checker(pipeline, step, _item_type(declared))
    if kind == "sync_generator":
        @functools.wraps(fn)
        def generate(*args: Any, **kwargs: Any) -> Any:
            inner = fn(*args, **kwargs)
            try:
                for index, item in enumerate(inner):
                    yield check(item, index)
            finally:
                inner.close()
        return generate
    if kind == "async":
        check = _checker(pipeline, step, declared)

        @functools.wraps(fn)
        async def await_call(*args: Any, **kwargs: Any) -> Any:
            return check(await fn(*args, **kwargs), None)
        return await_call

    @functools.wraps(fn)
    async def agenerate(*args: Any, **kwargs: Any) -> Any:
        inner = fn(*args, **kwargs)
        index = 0
        try:
            async for item in inner:
                yield check(item, index)
                index += 1
        finally:
            await inner.aclose()
    return agenerate


def checked_dag(dag: Any) -> Any:
    """A copy of ``dag`` whose annotated steps check what they return."""
    steps = {}
    for name, node in dag.steps.items():
        declared = function_hints(node.fn, pipeline=dag.name, step=name).get("return")
        if node.fn is None or declared is None or node.fn_kind is None:
            steps[name] = node
            continue
        steps[name] = dataclasses.replace(node, fn=checked_fn(node.fn, node.fn_kind, dag.name,
                                                              name, declared))
    return dataclasses.replace(dag, steps=FrozenDict(steps))


def resolve(check_types: Any, default: bool = False) -> bool:
    """``check_types`` as given (``None``: the runner's default), or a TypeError."""
    if check_types is None:
        return default
    if not isinstance(check_types, bool):
        raise TypeError(f"check_types must be True or False, got {check_types!r}")
    return check_types
