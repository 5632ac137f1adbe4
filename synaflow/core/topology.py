"""Graph helpers over step names: layering and cycle reports."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping


def execution_levels(steps: Mapping[str, object],
                     deps_of: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """Kahn layering; raises ValueError naming the steps on a cycle."""
    remaining = {name: set(deps_of(name)) for name in steps}
    levels: list[list[str]] = []
    done: set[str] = set()
    while remaining:
        level = [name for name, deps in remaining.items() if deps <= done]
        if not level:
            names = ", ".join(remaining)
            raise ValueError(f"dependency cycle detected among steps: {names}")
        levels.append(level)
        done.update(level)
        for name in level:
            del remaining[name]
    return levels
