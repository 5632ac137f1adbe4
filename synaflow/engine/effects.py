"""Effects the rules ask a driver to perform: notify observers, report an error.

A driver performs them in order; the sync driver calls, the asyncio driver awaits
when the handler is a coroutine function. Nothing here blocks or waits.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from ..core.observers import BaseObserverContext

_log = logging.getLogger("synaflow")


@dataclass(frozen=True, slots=True)
class Emit:
    """Deliver ``ctx`` to ``observers`` (a tuple of ResolvedObserver)."""

    observers: tuple
    ctx: BaseObserverContext


@dataclass(frozen=True, slots=True)
class Report:
    """Call an error materializer with an ErrorContext."""

    handler: Callable[[Any], Any]
    ctx: Any


def perform(effects: list) -> None:
    """The synchronous way: call every handler inline."""
    from ..core.observers import dispatch_observers

    for effect in effects:
        if type(effect) is Emit:
            if effect.observers:
                dispatch_observers(effect.observers, effect.ctx)
        else:
            report_error(effect)


def report_error(effect: Report) -> Any:
    try:
        return effect.handler(effect.ctx)
    except Exception:  # an error materializer must never hide the original failure
        _log.exception("error materializer '%s' failed for step '%s'",
                       getattr(effect.handler, "__name__", effect.handler),
                       effect.ctx.step_name)
        return None


async def perform_async(effects: list) -> None:
    """The asyncio way: await handlers that are coroutine functions."""
    from ..core.observers import dispatch_observers_async

    for effect in effects:
        if type(effect) is Emit:
            if effect.observers:
                await dispatch_observers_async(effect.observers, effect.ctx)
        else:
            result = report_error(effect)
            if hasattr(result, "__await__"):
                try:
                    await result
                except Exception:
                    _log.exception("error materializer failed for step '%s'",
                                   effect.ctx.step_name)
