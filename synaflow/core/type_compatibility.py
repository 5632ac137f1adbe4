"""Type rules of the wiring (spec 02 §4) and type strings of the contract (04 §3).

Everything here is a pure function of typing objects. ``None`` always means
"unknown" (an unannotated parameter or return), which is different from
``NoneType`` (an explicit ``-> None``). ``Annotated[X, ...]`` is treated as
``X`` by every rule and predicate; only :func:`get_type_name` shows the
metadata.

Deliberate differences from SynaFlow 0.32.4 (everything else was compared
against it pair by pair):

- ``Annotated[X, ...]`` counts as ``X``; 0.32.4 treated the alias as an
  opaque parameterized type (``list[int]`` could not feed ``Annotated[int,
  m]``, while ``str`` could).
- A bare ``typing.List``/``typing.Iterator``/``typing.Dict`` (or
  ``tuple[()]``) producer behaves like bare ``list``/``Iterator``: its items
  are unknown and fit anything. 0.32.4 rejected every consumer of them.
- ``ListType`` renders as ``ListType(str)`` instead of the item's ``repr``.
- Unhashable annotations (``Callable[[int], str]``) never raise ``TypeError``.

>>> from collections.abc import Iterator
>>> is_type_compatible(Iterator[int], int)      # EACH: one int per call
True
>>> is_type_compatible(int, float)              # no numeric widening
False
>>> get_type_name(Iterator[int]), get_type_name(ListType(str))
('Stream[int]', 'ListType(str)')
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

__all__ = [
    "ListType",
    "admits_explicit_none",
    "admits_none",
    "element_type",
    "get_type_name",
    "is_async_stream_type",
    "is_iterable_type",
    "is_materialized_type",
    "is_none_type",
    "is_scalar_type",
    "is_stream_type",
    "is_sync_stream_type",
    "is_type_compatible",
    "is_union",
    "origin_of",
    "stream_item_type",
    "union_members",
]

NoneType = type(None)

_SYNC_STREAMS = frozenset({cabc.Iterator, cabc.Generator})
_ASYNC_STREAMS = frozenset({cabc.AsyncIterator, cabc.AsyncGenerator})
_STREAMS = _SYNC_STREAMS | _ASYNC_STREAMS
_MATERIALIZED = frozenset({list, set, tuple, dict})
#: Origins that make a type an "iterable type" (EACH-able, 02 §4).
COLLECTION_ORIGINS = _MATERIALIZED | _STREAMS | {cabc.Iterable}
#: The builtin scalars named by the spec (any other bare class is scalar too).
SCALAR_TYPES = frozenset({int, float, str, bool, bytes, NoneType})
_UNION_ORIGINS = (typing.Union, types.UnionType)


@dataclass(frozen=True, repr=False)
class ListType:
    """Output type of an EACH step: the list of per-item results.

    An iterable type for the wiring rules, never a stream type.

    >>> ListType(int) == ListType(int), ListType(int)
    (True, ListType(<class 'int'>))
    """

    item_type: Any

    @property
    def inner_type(self) -> Any:
        """The item type under the reference SynaFlow's attribute name."""
        return self.item_type

    def __repr__(self) -> str:
        return f"ListType({self.item_type!r})"


_F = TypeVar("_F", bound=Callable[..., Any])


def _cached_when_hashable(fn: _F) -> _F:
    """Memoize ``fn`` on hashable arguments; call it directly otherwise.

    Wiring a large pipeline asks the same questions about the same few types
    thousands of times. Some annotations cannot be hashed (``Annotated[int,
    {}]``, ``Callable[[int], str]`` arguments); those simply skip the cache.
    Only use this for functions that treat ``X | None`` and ``Optional[X]``
    alike: they compare (and hash) equal, so the cache cannot tell them apart.
    """
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            hash(args)
        except TypeError:
            return fn(*args)
        return cached(*args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------
# Structure of a typing object
# --------------------------------------------------------------------------


def _strip_annotated(tp: Any) -> Any:
    """Return ``X`` for ``Annotated[X, ...]`` (nested ones are already flat)."""
    if typing.get_origin(tp) is typing.Annotated:
        return tp.__origin__
    return tp


def _args(tp: Any) -> tuple[Any, ...]:
    """Type arguments of ``tp`` (Annotated stripped; empty when bare)."""
    if isinstance(tp, ListType):
        return (tp.item_type,)
    return typing.get_args(_strip_annotated(tp))


def _is_one_of(origin: Any, classes: frozenset[type]) -> bool:
    """Membership test that tolerates unhashable or non-class objects."""
    return isinstance(origin, type) and origin in classes


def origin_of(tp: Any) -> Any:
    """Return the origin of ``tp``, normalised for the wiring rules.

    ``typing`` aliases give their builtin or ``collections.abc`` class,
    bare classes give themselves, unions give ``typing.Union`` or
    ``types.UnionType``, a :class:`ListType` gives the ``ListType`` class.

    >>> origin_of(typing.List[int]), origin_of(typing.Iterator), origin_of(int)
    (<class 'list'>, <class 'collections.abc.Iterator'>, <class 'int'>)
    """
    tp = _strip_annotated(tp)
    if isinstance(tp, ListType):
        return ListType
    origin = typing.get_origin(tp)
    return tp if origin is None else origin


def element_type(tp: Any) -> Any:
    """First type argument of ``tp``: the item type of an iterable.

    ``ListType(T)`` gives ``T``; ``dict[K, V]`` gives ``K`` (its iteration
    items); a bare collection or ``None`` gives ``None`` (unknown).

    >>> element_type(list[int]), element_type(dict[str, float]), element_type(list)
    (<class 'int'>, <class 'str'>, None)
    """
    args = _args(tp)
    return args[0] if args else None


def _consumer_element_type(consumer: Any) -> Any:
    """Element a consumer collection is built from: ``tuple[K, V]`` for dicts."""
    args = _args(consumer)
    if origin_of(consumer) is dict and len(args) >= 2:
        return tuple[args[0], args[1]]
    return args[0] if args else None


# --------------------------------------------------------------------------
# Predicates
# --------------------------------------------------------------------------


def is_none_type(tp: Any) -> bool:
    """True for an explicit ``NoneType`` (``-> None``), not for unknown ``None``."""
    return _strip_annotated(tp) is NoneType


def is_union(tp: Any) -> bool:
    """True for ``typing.Union``/``Optional`` and PEP 604 ``X | Y`` unions."""
    return typing.get_origin(_strip_annotated(tp)) in _UNION_ORIGINS


def union_members(tp: Any) -> tuple[Any, ...]:
    """Members of a union; ``(tp,)`` for any other type; ``()`` for ``None``.

    >>> union_members(int | None), union_members(int)
    ((<class 'int'>, <class 'NoneType'>), (<class 'int'>,))
    """
    if tp is None:
        return ()
    tp = _strip_annotated(tp)
    return typing.get_args(tp) if is_union(tp) else (tp,)


def _member_origin_in(tp: Any, classes: frozenset[type]) -> bool:
    """``tp``'s origin, or that of one of its union members, is in ``classes``."""
    if tp is None:
        return False
    return any(_is_one_of(origin_of(m), classes) for m in union_members(tp))


@_cached_when_hashable
def is_iterable_type(tp: Any) -> bool:
    """True for a :class:`ListType` or a (bare or parameterized) collection.

    Collections are ``list, set, tuple, dict`` and the ``collections.abc``
    ``Iterator, Generator, Iterable, AsyncIterator, AsyncGenerator`` (or their
    ``typing`` aliases). ``Sequence``, ``Mapping``, ``frozenset`` are not.

    >>> is_iterable_type(typing.List[int]), is_iterable_type(cabc.Sequence[int])
    (True, False)
    """
    if tp is None:
        return False
    return isinstance(tp, ListType) or _is_one_of(origin_of(tp), COLLECTION_ORIGINS)


@_cached_when_hashable
def is_scalar_type(tp: Any) -> bool:
    """True for a type an EACH step can receive one item of (02 §4).

    Scalars: ``int, float, str, bool, bytes, NoneType``, any other
    unparameterized type that is not a collection (custom classes, ``Any``,
    NamedTuples, dataclasses), and unions made only of scalars. Parameterized
    generics never are.

    >>> is_scalar_type(int | None), is_scalar_type(list), is_scalar_type(type[int])
    (True, False, False)
    """
    if tp is None or isinstance(tp, ListType):
        return False
    tp = _strip_annotated(tp)
    if is_union(tp):
        return all(is_scalar_type(m) for m in union_members(tp))
    return typing.get_origin(tp) is None and not _is_one_of(tp, COLLECTION_ORIGINS)


@_cached_when_hashable
def is_sync_stream_type(tp: Any) -> bool:
    """True for ``Iterator``/``Generator`` (bare or not) or a union with one."""
    return _member_origin_in(tp, _SYNC_STREAMS)


@_cached_when_hashable
def is_async_stream_type(tp: Any) -> bool:
    """True for ``AsyncIterator``/``AsyncGenerator`` or a union with one."""
    return _member_origin_in(tp, _ASYNC_STREAMS)


@_cached_when_hashable
def is_stream_type(tp: Any) -> bool:
    """True for a sync or async stream type (``Iterable`` is neither)."""
    return _member_origin_in(tp, _STREAMS)


@_cached_when_hashable
def is_materialized_type(tp: Any) -> bool:
    """True for bare or parameterized ``list/set/tuple/dict``, or a union with one.

    >>> is_materialized_type(typing.Optional[list[int]]), is_materialized_type(ListType(int))
    (True, False)
    """
    return _member_origin_in(tp, _MATERIALIZED)


def stream_item_type(tp: Any) -> Any:
    """Item type of a stream type (first stream member of a union), else ``None``.

    >>> stream_item_type(cabc.AsyncIterator[bytes]), stream_item_type(list[int])
    (<class 'bytes'>, None)
    """
    for member in union_members(tp):
        if _is_one_of(origin_of(member), _STREAMS):
            return element_type(member)
    return None


def admits_explicit_none(consumer: Any) -> bool:
    """Whether a parameter may be fed by a step annotated ``-> None`` (02 §5).

    True for an unannotated parameter (``None``), ``Any`` and a
    ``typing.Optional``/``typing.Union`` containing ``None``. Deliberately
    False for PEP 604 ``X | None``: SynaFlow 0.32.4 rejects it and pipelines
    may rely on that; :func:`admits_none` is the symmetric variant.

    >>> admits_explicit_none(typing.Optional[int]), admits_explicit_none(int | None)
    (True, False)
    """
    if consumer is None:
        return True
    consumer = _strip_annotated(consumer)
    if consumer is Any:
        return True
    return typing.get_origin(consumer) is typing.Union and NoneType in typing.get_args(consumer)


def admits_none(consumer: Any) -> bool:
    """Like :func:`admits_explicit_none`, but also True for ``X | None``."""
    if consumer is None or _strip_annotated(consumer) is Any:
        return True
    return is_union(consumer) and NoneType in union_members(consumer)


# --------------------------------------------------------------------------
# Compatibility rules (02 §4), first match wins
# --------------------------------------------------------------------------


@_cached_when_hashable
def is_type_compatible(producer: Any, consumer: Any) -> bool:
    """Whether a value typed ``producer`` may feed a parameter typed ``consumer``.

    Implements rules 1-9 of spec 02 §4. The explicit-``None`` check of 02 §5
    is not part of it (see :func:`admits_explicit_none`).

    >>> is_type_compatible(dict[str, int], list[tuple[str, int]])
    True
    >>> is_type_compatible(int, typing.Any), is_type_compatible(int, list[int])
    (False, False)
    """
    if producer is None or consumer is None:  # rule 1: unknown type
        return True
    producer, consumer = _strip_annotated(producer), _strip_annotated(consumer)
    if producer == consumer:  # rule 2
        return True
    if is_union(producer):  # rules 3 and 4
        return _union_producer_fits(producer, consumer)
    if is_iterable_type(producer):  # rule 5
        return _iterable_producer_fits(producer, consumer)
    return _single_producer_fits(producer, consumer)  # rules 6 to 9


def _union_producer_fits(producer: Any, consumer: Any) -> bool:
    """Rules 3 and 4: every producer member must fit (some member of) the consumer."""
    if is_union(consumer):
        wanted = union_members(consumer)
        return all(
            any(is_type_compatible(p, c) for c in wanted) for p in union_members(producer)
        )
    return all(is_type_compatible(p, consumer) for p in union_members(producer))


def _iterable_producer_fits(producer: Any, consumer: Any) -> bool:
    """Rule 5: compare item types; a bare producer's unknown item fits anything."""
    item = element_type(producer)
    if is_union(consumer) or is_scalar_type(consumer):
        # For a scalar consumer this is what makes EACH wiring type-check.
        return is_type_compatible(item, consumer)
    if not is_iterable_type(consumer):
        return False
    wanted = _consumer_element_type(consumer)
    return (
        wanted is None
        or is_type_compatible(item, wanted)
        or _dict_pairs_fit(producer, wanted)
    )


def _dict_pairs_fit(producer: Any, wanted: Any) -> bool:
    """A ``dict[K, V]`` producer also offers its items as ``tuple[K, V]``."""
    args = _args(producer)
    if origin_of(producer) is not dict or len(args) < 2:
        return False
    return is_type_compatible(tuple[args[0], args[1]], wanted)


def _single_producer_fits(producer: Any, consumer: Any) -> bool:
    """Rules 6 to 9 for a producer that is neither a union nor iterable."""
    if is_union(consumer):  # rule 6
        return any(is_type_compatible(producer, c) for c in union_members(consumer))
    if is_iterable_type(consumer):  # rule 7: never wrap a value into a collection
        return False
    if is_scalar_type(consumer):  # rule 8: no subclassing, Any is no wildcard
        args = _args(producer)
        if args:
            return is_type_compatible(args[0], consumer)
        # Equal types were accepted by rule 2 already, so this rejects.
        return is_scalar_type(producer) and producer == consumer
    return True  # rule 9: Sequence, Mapping, Callable... accept anything


# --------------------------------------------------------------------------
# Rendering (04 §3)
# --------------------------------------------------------------------------


def _plain_name(obj: Any) -> str:
    """``__name__`` of a class-like object, ``str()`` of anything else."""
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) else str(obj)


def _origin_name(origin: Any) -> str:
    """Name of a generic's origin; every stream origin reads ``Stream``."""
    if _is_one_of(origin, _STREAMS):
        return "Stream"
    name = getattr(origin, "__name__", None) or getattr(origin, "_name", None)
    return name if isinstance(name, str) else str(origin)


def get_type_name(tp: Any) -> str:
    """Render ``tp`` as in the JSON contract (spec 04 §3).

    Deterministic: classes render as their bare ``__name__``. Unknown (``None``)
    and ``NoneType`` both read ``"None"``; stream origins read ``Stream``; a
    :class:`ListType` reads ``ListType(<item>)`` (the reference printed the
    item's ``repr`` there, module path included).

    >>> get_type_name(typing.Optional[int]), get_type_name(int | None)
    ('Union[int, None]', 'UnionType[int, None]')
    >>> get_type_name(tuple[int, ...]), get_type_name(ListType(list[int]))
    ('tuple[int, Ellipsis]', 'ListType(list[int])')
    """
    if tp is None or tp is NoneType:
        return "None"
    if isinstance(tp, ListType):
        return f"ListType({get_type_name(tp.item_type)})"
    origin = typing.get_origin(tp)
    if origin is None:
        return "Stream" if _is_one_of(tp, _STREAMS) else _plain_name(tp)
    # typing.get_args keeps Annotated metadata and Literal values as objects.
    rendered = ", ".join(get_type_name(arg) for arg in typing.get_args(tp))
    return f"{_origin_name(origin)}[{rendered}]"


# Names under which the reference SynaFlow exposed the same predicates, kept
# for code that imported them from this module.
is_scalar = is_scalar_type
get_inner_type = element_type
is_materialized_consumer = is_materialized_type
