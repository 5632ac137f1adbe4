"""Runner entry points refuse keywords they do not know.

A misspelt option (``run(p, P(), stall_timout=1)``) must not be swallowed: the run would
go ahead without it. ``refuse_unknown`` raises a ``TypeError`` naming the keyword and the
closest valid one.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Callable

__all__ = ["accepted_keywords", "refuse_unknown"]


def accepted_keywords(fn: Callable[..., Any]) -> list[str]:
    """The keyword-passable parameters of ``fn`` (``self`` and the pipeline excluded)."""
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [name for name, p in inspect.signature(fn).parameters.items()
            if p.kind in kinds and name not in ("self", "dag", "pipeline_or_dag", "params")]


def refuse_unknown(entry: str, given: Mapping[str, Any],
                   accepted: Callable[..., Any] | Iterable[str]) -> None:
    """TypeError if ``given`` has a keyword that ``accepted`` (a function, or the
    names themselves) does not take."""
    if not given:
        return
    valid = accepted_keywords(accepted) if callable(accepted) else list(accepted)
    for name in given:
        if name in valid:
            continue
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise TypeError(f"{entry} got an unknown keyword '{name}': {hint}"
                        f"it accepts {', '.join(valid)}")
