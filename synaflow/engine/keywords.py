"""Runner entry points refuse keywords they do not know.

A misspelt option (``run(p, P(), stall_timout=1)``) must not be swallowed: the run would
go ahead without it. ``refuse_unknown`` raises a ``TypeError`` naming the keyword and the
closest valid one.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["refuse_unknown"]


def refuse_unknown(entry: str, given: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """TypeError if ``given`` has a keyword not in ``accepted``."""
    if not given:
        return
    valid = list(accepted)
    for name in given:
        if name in valid:
            continue
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise TypeError(f"{entry} got an unknown keyword '{name}': {hint}"
                        f"it accepts {', '.join(valid)}")
