"""Dataset names: plural/singular synonym matching and sub-pipeline scopes.

Two parameters or producers are synonyms when they share a *base dataset
name* (spec 02 §2.1): ``order``, ``orders`` and ``order_list`` all map to
``orders``. The pluralisation is delegated to ``inflect`` so that names match
exactly the way the reference SynaFlow matches them, heuristics included
(``x`` -> ``xes``, ``bus`` -> ``bus``).

>>> get_base_dataset_name("order_list")
'orders'
>>> Scope("etl", "load")("rows")
'etl__load__rows'
"""

import functools
import sys
import threading
from dataclasses import dataclass
from typing import Any

from synaflow.core.constants import SCOPE_SEPARATOR

__all__ = ["Scope", "get_base_dataset_name"]

#: Collection suffixes that do not change which dataset a name refers to.
_COLLECTION_SUFFIXES = ("_tuple", "_list", "_dict", "_set")

_inflect_engine: Any = None
_inflect_lock = threading.Lock()


def _pass_through(target: Any = None, **_options: Any) -> Any:
    """Stand-in for ``typeguard.typechecked`` that leaves its target unchanged."""
    return _pass_through if target is None else target


def _import_inflect() -> Any:
    """Import inflect without typeguard instrumenting it at import time.

    inflect >= 7.1 decorates its engine methods with typeguard's
    ``@typechecked``, which re-parses inflect's whole source once per method:
    1 to 5 s for the first import (jaraco/inflect#212), paid by every process
    that compiles a pipeline. Those checks only validate argument types, and
    we only ever pass non-empty alphabetic strings, so a pass-through
    decorator is swapped in for the duration of the import. Callers hold
    ``_inflect_lock`` so that two threads cannot interleave the swap.
    """
    if "inflect" in sys.modules:
        return sys.modules["inflect"]
    try:
        import typeguard
    except ImportError:  # an inflect without typeguard: nothing to work around
        import inflect

        return inflect
    original = typeguard.typechecked
    typeguard.typechecked = _pass_through
    try:
        import inflect
    finally:
        typeguard.typechecked = original
    return inflect


def _engine() -> Any:
    """Return the shared ``inflect`` engine, importing inflect on first use."""
    global _inflect_engine
    if _inflect_engine is None:
        with _inflect_lock:
            if _inflect_engine is None:
                _inflect_engine = _import_inflect().engine()
    return _inflect_engine


def _strip_collection_suffix(name: str) -> str:
    """Remove at most one collection suffix, unless it is the whole word."""
    for suffix in _COLLECTION_SUFFIXES:
        # "list" is not "_list"; "_list" itself does strip to "" (verified).
        if name.endswith(suffix) and name != suffix[1:]:
            return name[: -len(suffix)]
    return name


def _pluralize_segment(segment: str) -> str:
    """Pluralise one alphabetic segment unless inflect already sees a plural."""
    if not segment.isalpha():
        return segment
    engine = _engine()
    if engine.singular_noun(segment):
        return segment
    return engine.plural_noun(segment) or segment


@functools.lru_cache(maxsize=4096)
def get_base_dataset_name(name: str) -> str:
    """Return the base dataset name used for synonym matching (spec 02 §2.1).

    Strips one ``_tuple``/``_list``/``_dict``/``_set`` suffix, then pluralises
    the last ``_``-separated segment when it is alphabetic and inflect does not
    already consider it plural.

    >>> get_base_dataset_name("category"), get_base_dataset_name("row_tuple")
    ('categories', 'rows')
    """
    segments = _strip_collection_suffix(name).split("_")
    segments[-1] = _pluralize_segment(segments[-1])
    return "_".join(segments)


def _check_part(part: object) -> str:
    """Validate one scope part (or step name) and return it."""
    if not isinstance(part, str) or not part:
        raise ValueError("Scope parts must be non-empty strings.")
    return part


@dataclass(frozen=True, init=False)
class Scope:
    """Prefix for the flattened step names of an included sub-pipeline.

    Frozen and hashable; ``str(scope)`` is the parts joined with ``"__"`` and
    calling the scope with a step name appends that name.

    >>> outer = Scope("root", "outer")
    >>> str(outer.scope("inner")), outer("load")
    ('root__outer__inner', 'root__outer__load')
    """

    parts: tuple[str, ...]

    def __init__(self, *parts: str):
        if not parts:
            raise ValueError("Scope requires at least one non-empty part.")
        # A frozen dataclass forbids normal assignment, even in __init__.
        object.__setattr__(self, "parts", tuple(_check_part(p) for p in parts))

    def scope(self, part: str) -> "Scope":
        """Return the nested scope ``self + part``."""
        return Scope(*self.parts, part)

    def __call__(self, step_name: str) -> str:
        """Return the flattened key of ``step_name`` inside this scope."""
        return SCOPE_SEPARATOR.join((*self.parts, _check_part(step_name)))

    def __str__(self) -> str:
        return SCOPE_SEPARATOR.join(self.parts)
