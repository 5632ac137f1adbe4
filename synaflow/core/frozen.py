"""A read-only dict that still pickles (Ray ships compiled nodes to workers)."""
from __future__ import annotations

from typing import Any, NoReturn


class FrozenDict(dict):
    """A ``dict`` whose mutators raise; used for every mapping inside a compiled Dag."""

    __slots__ = ()

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("compiled Dag mappings are read-only; build a new pipeline instead")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # frozen dataclasses holding it stay hashable
        return hash(tuple(self.items()))


EMPTY: FrozenDict = FrozenDict()
