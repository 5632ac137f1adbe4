"""Generate the async twin of a synchronous pipeline (for the conformance suite).

Every step becomes ``async def`` (generators become async generators), ``Iterator``
annotations become ``AsyncIterator``, and observers, materializers and error
materializers get awaitable wrappers. Stream parameters are read into a synchronous
iterator before the original body runs, so results are identical; per-step event
order is unchanged. Generated, never hand-copied (STYLE.md "Tests").
"""
from __future__ import annotations

import collections.abc as cabc
import functools
import inspect
import typing
from typing import Any

from ..core.definition import IncludeStep, PipelineDef, Step
from ..core.observers import Observer
from ..core.signatures import fn_kind


def _async_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in (cabc.Iterator, typing.Iterator) or origin in (cabc.Iterator, cabc.Generator):
        return cabc.AsyncIterator[args[0]] if args else cabc.AsyncIterator  # type: ignore
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return typing.Union[tuple(_async_type(a) for a in args)]  # type: ignore
    return tp


def _is_stream(tp: Any) -> bool:
    return _async_type(tp) is not tp


async def _to_sync(value: Any) -> Any:
    if hasattr(value, "__aiter__"):
        return iter([item async for item in value])
    return value


def asyncify_fn(fn: Any) -> Any:
    hints = typing.get_type_hints(fn)
    stream_params = [p for p, t in hints.items() if p != "return" and _is_stream(t)]
    kind = fn_kind(fn)

    async def read_streams(kwargs: dict) -> dict:
        for p in stream_params:
            kwargs[p] = await _to_sync(kwargs[p])
        return kwargs

    if kind == "sync_generator":
        async def wrapper(**kwargs: Any) -> Any:
            for item in fn(**await read_streams(kwargs)):
                yield item
    else:
        async def wrapper(**kwargs: Any) -> Any:  # type: ignore[misc]
            return fn(**await read_streams(kwargs))
    functools.update_wrapper(wrapper, fn)
    del wrapper.__wrapped__  # keep the async signature visible to inspect
    wrapper.__annotations__ = {k: _async_type(v) for k, v in hints.items()}
    wrapper.__signature__ = inspect.signature(fn).replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=wrapper.__annotations__.get(p.name, p.annotation))
                    for p in inspect.signature(fn).parameters.values()],
        return_annotation=wrapper.__annotations__.get("return", inspect.Signature.empty))
    return wrapper


def _async_handler(handler: Any) -> Any:
    if handler is None or inspect.iscoroutinefunction(handler):
        return handler

    async def wrapper(value: Any) -> Any:
        if hasattr(value, "__aiter__"):
            value = [item async for item in value]
        return handler(value)
    wrapper.__name__ = getattr(handler, "__name__", "handler")
    return wrapper


def _observers(entries: list) -> list:
    return [Observer(_async_handler(getattr(o, "handler", o))) for o in entries]


def asyncify(p: PipelineDef) -> PipelineDef:
    """The async twin of ``p`` (sub-pipelines included)."""
    steps = []
    for s in p.steps:
        if isinstance(s, IncludeStep):
            steps.append(IncludeStep(s.name, asyncify_fn(s.fn), asyncify(s.pipeline),
                                     s.description))
            continue
        steps.append(Step(
            s.name, asyncify_fn(s.fn), s.on_error, s.mode, s.params,
            _async_handler(s.materializer), _async_handler(s.error_materializer),
            s.force_materialize, s.description, s.pipeline, s.parent_pipeline,
            _observers(s.observers), s.max_in_flight, s.error_threshold_absolute,
            s.error_threshold_pct, s.ray, s.max_in_flight_bytes))
    return PipelineDef(
        name=p.name, params=p.params, steps=steps, resources=dict(p.resources),
        exports=p.exports, materializer=_async_handler(p.materializer),
        error_materializer=_async_handler(p.error_materializer),
        observers=_observers(p.observers), description=p.description)
