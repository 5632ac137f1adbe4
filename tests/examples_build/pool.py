"""A pool of module-level step functions for the property tests.

Steps of a random pipeline are named by the slots ``a, b, c, d, e`` (in declaration
order) and read the params field ``n`` or earlier slots. Wiring is by parameter
name, so the pool holds one function per (kind, sources) pair, e.g.
``each_a_c(a: Any, c: Any) -> int``. They are generated once at import and bound
as globals of this module, so ``module:qualname`` imports them back (``fn_ref``).

Kinds (what the consumer declares -> what it returns):

- ``each``: ``Any`` parameters -> ``int`` (EACH over any iterable source)
- ``whole``: unannotated parameters -> ``int`` (always ALL, takes values whole)
- ``stream``: unannotated parameters -> ``Iterator[int]`` (a generator)
- ``listy``: unannotated parameters -> ``list[int]``
- ``collect``: ``list[int]`` parameters -> ``int`` (materializes its sources)
- ``lazy``: ``Iterator[int]`` parameters -> ``int`` (streams its sources)

The module uses ``from __future__ import annotations`` on purpose: every
annotation below is a string that must resolve against this module (PEP 563).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, NamedTuple


class Params(NamedTuple):
    n: int = 3


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def total(numbers: list[int]) -> int:
    return sum(numbers)


SLOTS = ("a", "b", "c", "d", "e")
SOURCES = ("n",) + SLOTS[:-1]
KINDS = ("each", "whole", "stream", "listy", "collect", "lazy")
#: Kinds that only accept iterable sources (streams, lists, EACH outputs).
ITERABLE_ONLY = ("collect", "lazy")
_PARAM = {"each": "Any", "whole": None, "stream": None, "listy": None,
          "collect": "list[int]", "lazy": "Iterator[int]"}
_RETURN = {"each": "int", "whole": "int", "stream": "Iterator[int]", "listy": "list[int]",
           "collect": "int", "lazy": "int"}
_BODY = {"stream": "    yield 0\n", "listy": "    return [0]\n"}


def fn_name(kind: str, sources: tuple[str, ...]) -> str:
    return f"{kind}_{'_'.join(sources)}"


def _define(kind: str, sources: tuple[str, ...]) -> None:
    ann = _PARAM[kind]
    params = ", ".join(f"{s}: {ann}" if ann else s for s in sources)
    body = _BODY.get(kind, "    return 0\n")
    source = f"def {fn_name(kind, sources)}({params}) -> {_RETURN[kind]}:\n{body}"
    exec(source, globals())  # defines a module-level function with string annotations


for _kind in KINDS:
    for _size in (1, 2):
        for _sources in itertools.combinations(SOURCES, _size):
            _define(_kind, _sources)

_ = Any  # used by the generated annotations
