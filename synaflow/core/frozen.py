"""Read-only containers that still pickle (Ray ships compiled nodes to workers)."""
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


class FrozenList(tuple):
    """A read-only sequence for the list fields of a compiled Dag.

    It is a ``tuple`` (immutable, hashable, a JSON array, pickles), and it also compares
    equal to a ``list`` with the same items, as the lists of 0.32.4's mutable ``Dag``
    did: ``node.each_mode_deps == ["items"]`` holds.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            other = tuple(other)
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __add__(self, other: object) -> "FrozenList":
        if isinstance(other, (list, tuple)):
            return FrozenList(tuple.__add__(self, tuple(other)))
        return NotImplemented

    def __radd__(self, other: object) -> Any:
        if isinstance(other, list):
            return other + list(self)
        if isinstance(other, tuple):
            return FrozenList(other + tuple(self))
        return NotImplemented


def freeze_sequences(obj: Any, *, skip: tuple[str, ...] = ()) -> None:
    """Turn every plain ``tuple`` field of a frozen dataclass into a FrozenList."""
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        if type(value) is tuple and name not in skip:
            object.__setattr__(obj, name, FrozenList(value))


EMPTY: FrozenDict = FrozenDict()
