"""Wiring type rules (spec 02 §4, §5) and contract type strings (04 §3)."""

import collections.abc as cabc
import dataclasses
import typing
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Annotated, Any, Callable, Literal, NamedTuple, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synaflow.core.type_compatibility import (
    ListType,
    admits_explicit_none,
    admits_none,
    element_type,
    get_type_name,
    is_async_stream_type,
    is_iterable_type,
    is_materialized_type,
    is_none_type,
    is_scalar_type,
    is_stream_type,
    is_sync_stream_type,
    is_type_compatible,
    is_union,
    origin_of,
    stream_item_type,
    union_members,
)

NoneType = type(None)


class Rec:
    pass


class SubRec(Rec):
    pass


class MyInt(int):
    pass


class Point(NamedTuple):
    x: int


@dataclasses.dataclass
class Store:
    name: str


def builds(producer, consumer):
    """What the builder accepts: the §5 explicit-None check, then the rules."""
    if is_none_type(producer) and not admits_explicit_none(consumer):
        return False
    return is_type_compatible(producer, consumer)


def wiring_mode(producer, consumer):
    """How a consumer receives the value (the bracket of the 02 §4 table)."""
    if is_iterable_type(producer) and is_scalar_type(consumer):
        return "each"
    if is_materialized_type(consumer):
        return "materialized"
    return "lazy" if is_iterable_type(consumer) else "all"


ITER_PRODUCERS = [
    Iterator[int],
    Generator[int, None, None],
    list[int],
    set[int],
    tuple[int, ...],
    Iterable[int],
]
PAIRS = Iterator[tuple[str, int]]

# 02 §4 "Selected verified outcomes": (producer, consumer, mode or None = ✘).
VERIFIED_OUTCOMES = [
    (int, int, "all"),
    (int, Optional[int], "all"),
    (int, int | str, "all"),
    (int, float, None),
    (int, Any, None),
    (int, MyInt, None),
    (int, list[int], None),
    (int, Iterator[int], None),
    *[(p, c, "each") for p in ITER_PRODUCERS for c in (int, Optional[int], int | None)],
    *[(p, c, "lazy") for p in ITER_PRODUCERS for c in (Iterator[int], Iterable[int], Iterator)],
    *[
        (p, c, "materialized")
        for p in ITER_PRODUCERS
        for c in (list[int], list, set[int], tuple[int, ...])
    ],
    (Iterator[int], dict[str, int], None),
    (Iterator[int], Iterator[str], None),
    (Iterator[int], Sequence[int], None),
    (Iterator[int], str, None),
    (PAIRS, dict[str, int], "materialized"),
    (PAIRS, list[tuple[str, int]], "materialized"),
    (PAIRS, tuple[str, int], "materialized"),
    (PAIRS, list, "materialized"),
    (PAIRS, str, "each"),
    (dict[str, int], str, "each"),
    (dict[str, int], list[tuple[str, int]], "materialized"),
    (dict[str, int], list[str], "materialized"),
    (dict[str, int], dict[str, int], "materialized"),
    (Iterator, int, "each"),
    (Iterator, Rec, "each"),
    (list, str, "each"),
    (Iterator, list[int], "materialized"),
    (list, dict[str, int], "materialized"),
    (list, Iterator[str], "lazy"),
    (Sequence[int], int, "all"),
    (NoneType, Optional[int], "all"),
    (NoneType, Optional[Rec], "all"),
    (NoneType, int, None),
    (NoneType, Any, None),
    (NoneType, int | None, None),
    (list[int], Optional[list[int]], None),
    (list[int], list[int] | None, None),
]


@pytest.mark.parametrize(("producer", "consumer", "mode"), VERIFIED_OUTCOMES)
def test_verified_outcome(producer, consumer, mode):
    assert builds(producer, consumer) is (mode is not None)
    if mode is not None:
        assert wiring_mode(producer, consumer) == mode


# Further cases, each checked against SynaFlow 0.32.4.
EXTRA_OUTCOMES = [
    (None, int, True),  # rule 1: unknown producer
    (list[int], None, True),  # rule 1: unannotated parameter
    (Any, Any, True),
    (SubRec, Rec, False),  # no subclass acceptance
    (bool, int, False),
    (NoneType, NoneType, True),
    (NoneType, int | None, True),  # only the builder's §5 check rejects it
    (Optional[int], int, False),  # rule 4: NoneType does not fit int
    (Optional[int], Optional[int], True),
    (Union[int, str], Optional[int], False),
    (Union[list[int], str], Union[int, str], True),
    (Union[list[int], set[int]], int, True),
    (Optional[Iterator[int]], int, False),
    (list[int], Any, False),
    (list[Any], Any, True),
    (Iterator[int], Union[list[str], int], True),
    (Iterator[int], Union[Iterator[int], str], False),  # rule 5 compares items only
    (Iterator[list[int]], int, True),  # recursion through the item type
    (Iterator[list[int]], Iterator[int], True),
    (Iterator[Optional[int]], int, False),
    (dict, str, True),
    (dict[str, int], dict, True),
    (dict[str, int], dict[str, str], True),  # only first arguments are compared
    (dict[str, int], Iterator[tuple[str, int]], True),
    (Iterator[int], typing.Dict, True),
    (list, Sequence[int], False),
    (Iterator, Callable, False),
    (Sequence[int], list[int], False),
    (Sequence[int], Optional[int], True),
    (list[int], Iterable, True),
    (list[int], Iterable[str], False),
    (frozenset[int], int, True),  # not iterable: rule 8 looks at the argument
    (frozenset[int], list[int], False),
    (int, Literal[1], True),  # rule 9: parameterized consumer
    (Literal[1], int, False),
    (int, Mapping[str, int], True),
    (Generator[int, None, None], Generator[str, None, None], False),
    (ListType(int), int, True),
    (ListType(int), list[int], True),
    (ListType(int), ListType(int), True),
    (int, ListType(int), False),
    (ListType(NoneType), NoneType, True),
]


@pytest.mark.parametrize(("producer", "consumer", "expected"), EXTRA_OUTCOMES)
def test_extra_outcome(producer, consumer, expected):
    assert is_type_compatible(producer, consumer) is expected


# Deliberate differences from SynaFlow 0.32.4 (see the module docstrings).
DELIBERATE = [
    # Annotated[X, ...] is X; the reference compared the Annotated alias itself.
    (list[int], Annotated[int, "m"], True),
    (Annotated[list[int], "m"], list[int], True),
    (str, Annotated[int, "m"], False),
    (Annotated[Optional[int], "m"], Optional[int], True),
    # Bare typing aliases are bare collections, like list and Iterator are;
    # the reference rejected every consumer of a bare typing.List/Iterator.
    (typing.List, int, True),
    (typing.Iterator, list[int], True),
    (tuple[()], int, True),
]


@pytest.mark.parametrize(("producer", "consumer", "expected"), DELIBERATE)
def test_deliberate_difference(producer, consumer, expected):
    assert is_type_compatible(producer, consumer) is expected


def test_unhashable_types_are_handled():
    """Unhashable annotations skip the cache instead of raising TypeError."""
    assert is_type_compatible(Callable[[int], str], int) is False
    assert is_type_compatible(Annotated[list[int], {"k": 1}], int) is True
    assert is_scalar_type(Annotated[int, {"k": 1}]) is True


def test_compatibility_is_cached():
    is_type_compatible(list[Rec], Rec)
    hits = is_type_compatible.cache_info().hits
    is_type_compatible(list[Rec], Rec)
    assert is_type_compatible.cache_info().hits == hits + 1


# --------------------------------------------------------------------------
# Explicit None (02 §5)
# --------------------------------------------------------------------------

NONE_ADMISSION = [
    # consumer, admits_explicit_none, admits_none
    (None, True, True),
    (Any, True, True),
    (Optional[int], True, True),
    (Union[int, str, None], True, True),
    (Optional[Rec], True, True),
    (int | None, False, True),  # PEP 604: the reference's asymmetry
    (int, False, False),
    (NoneType, False, False),
    (Union[int, str], False, False),
    (list[int], False, False),
    (Annotated[Optional[int], "m"], True, True),
]


@pytest.mark.parametrize(("consumer", "explicit", "lenient"), NONE_ADMISSION)
def test_none_admission(consumer, explicit, lenient):
    assert admits_explicit_none(consumer) is explicit
    assert admits_none(consumer) is lenient


def test_is_none_type():
    assert is_none_type(NoneType)
    assert not is_none_type(None)  # unknown, not an explicit None
    assert not is_none_type(Optional[int])


# --------------------------------------------------------------------------
# Rendering (04 §3)
# --------------------------------------------------------------------------

RENDERED = [
    (None, "None"),
    (NoneType, "None"),
    (Iterator, "Stream"),
    (Generator, "Stream"),
    (AsyncIterator, "Stream"),
    (AsyncGenerator, "Stream"),
    (Iterator[int], "Stream[int]"),
    (typing.Iterator[int], "Stream[int]"),
    (AsyncIterator[int], "Stream[int]"),
    (Generator[int, None, None], "Stream[int, None, None]"),
    (AsyncGenerator[str, None], "Stream[str, None]"),
    (typing.List[int], "list[int]"),
    (tuple[int, ...], "tuple[int, Ellipsis]"),
    (Optional[int], "Union[int, None]"),
    (Union[int, str], "Union[int, str]"),
    (int | None, "UnionType[int, None]"),
    (Literal["a", 1], "Literal[a, 1]"),
    (Annotated[int, "m"], "Annotated[int, m]"),
    (int, "int"),
    (Store, "Store"),
    (Point, "Point"),
    (Rec, "Rec"),
    (dict[str, list[int]], "dict[str, list[int]]"),
    (Iterable[int], "Iterable[int]"),
    (Any, "Any"),
    (Sequence, "Sequence"),
    (list["Rec"], "list[Rec]"),
    (typing.TypeVar("T"), "T"),
    (type[int], "type[int]"),
    # Reference quirks kept: bare typing aliases and empty tuples print "[]".
    (typing.Iterator, "Stream[]"),
    (typing.List, "list[]"),
    (tuple[()], "tuple[]"),
    (Callable[[int], str], "Callable[[<class 'int'>], str]"),
    (Annotated[Optional[int], "m"], "Annotated[Union[int, None], m]"),
    # The one deliberate difference: ListType prints its item readably.
    (ListType(float), "ListType(float)"),
    (ListType(list[int]), "ListType(list[int])"),
    (ListType(Rec), "ListType(Rec)"),
    (ListType(Optional[int]), "ListType(Union[int, None])"),
]


@pytest.mark.parametrize(("tp", "text"), RENDERED)
def test_type_name(tp, text):
    assert get_type_name(tp) == text


def test_pep604_and_optional_render_apart():
    """They compare equal, so nothing may cache the rendering by equality."""
    assert get_type_name(Optional[int]) == "Union[int, None]"
    assert get_type_name(int | None) == "UnionType[int, None]"
    assert get_type_name(list[Optional[int]]) == "list[Union[int, None]]"
    assert get_type_name(list[int | None]) == "list[UnionType[int, None]]"


# --------------------------------------------------------------------------
# ListType
# --------------------------------------------------------------------------


def test_list_type_value_semantics():
    assert ListType(int) == ListType(int)
    assert ListType(int) != ListType(str)
    assert ListType(int) != list[int]
    assert hash(ListType(int)) == hash(ListType(int))
    assert repr(ListType(int)) == "ListType(<class 'int'>)"
    assert ListType(str).item_type is str
    assert ListType(str).inner_type is str


def test_list_type_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ListType(int).item_type = str  # type: ignore[misc]


# --------------------------------------------------------------------------
# Predicates
# --------------------------------------------------------------------------

# tp, iterable, scalar, sync stream, async stream, materialized
PREDICATES = [
    (None, False, False, False, False, False),
    (int, False, True, False, False, False),
    (NoneType, False, True, False, False, False),
    (Any, False, True, False, False, False),
    (Rec, False, True, False, False, False),
    (Point, False, True, False, False, False),
    (Optional[int], False, True, False, False, False),
    (int | str, False, True, False, False, False),
    (Literal[1], False, False, False, False, False),
    (list, True, False, False, False, True),
    (typing.List, True, False, False, False, True),
    (list[int], True, False, False, False, True),
    (tuple[int, ...], True, False, False, False, True),
    (dict[str, int], True, False, False, False, True),
    (set[int], True, False, False, False, True),
    (Iterator, True, False, True, False, False),
    (typing.Iterator[int], True, False, True, False, False),
    (Generator[int, None, None], True, False, True, False, False),
    (Iterable[int], True, False, False, False, False),
    (AsyncIterator[int], True, False, False, True, False),
    (AsyncGenerator, True, False, False, True, False),
    (ListType(int), True, False, False, False, False),
    (Optional[Iterator[int]], False, False, True, False, False),
    (AsyncIterator[int] | None, False, False, False, True, False),
    (Optional[list[int]], False, False, False, False, True),
    (Union[int, list[int]], False, False, False, False, True),
    (Sequence[int], False, False, False, False, False),
    (frozenset[int], False, False, False, False, False),
    (typing.Callable, False, False, False, False, False),
    (Annotated[int, "m"], False, True, False, False, False),
    (Annotated[list[int], "m"], True, False, False, False, True),
]


@pytest.mark.parametrize(("tp", "it", "sc", "sync", "asyn", "mat"), PREDICATES)
def test_predicates(tp, it, sc, sync, asyn, mat):
    assert is_iterable_type(tp) is it
    assert is_scalar_type(tp) is sc
    assert is_sync_stream_type(tp) is sync
    assert is_async_stream_type(tp) is asyn
    assert is_stream_type(tp) is (sync or asyn)
    assert is_materialized_type(tp) is mat


def test_union_helpers():
    assert is_union(Optional[int]) and is_union(int | None)
    assert is_union(Annotated[int | str, "m"])
    assert not is_union(int) and not is_union(None)
    assert union_members(Union[int, str]) == (int, str)
    assert union_members(int | None) == (int, NoneType)
    assert union_members(int) == (int,)
    assert union_members(None) == ()


@pytest.mark.parametrize(
    ("tp", "element"),
    [
        (list[int], int),
        (dict[str, float], str),
        (tuple[str, int], str),
        (ListType(Rec), Rec),
        (Annotated[set[bytes], "m"], bytes),
        (list, None),
        (typing.List, None),
        (int, None),
        (None, None),
    ],
)
def test_element_type(tp, element):
    assert element_type(tp) == element


@pytest.mark.parametrize(
    ("tp", "origin"),
    [
        (typing.List[int], list),
        (typing.Iterator, cabc.Iterator),
        (typing.Dict, dict),
        (Iterator[int], cabc.Iterator),
        (int, int),
        (Optional[int], typing.Union),
        (ListType(int), ListType),
        (Annotated[list[int], "m"], list),
        (None, None),
    ],
)
def test_origin_of(tp, origin):
    assert origin_of(tp) is origin


@pytest.mark.parametrize(
    ("tp", "item"),
    [
        (Iterator[int], int),
        (AsyncGenerator[str, None], str),
        (Optional[Iterator[bytes]], bytes),
        (Iterator, None),
        (list[int], None),
        (int, None),
        (None, None),
    ],
)
def test_stream_item_type(tp, item):
    assert stream_item_type(tp) == item


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

SCALARS = st.sampled_from([int, float, str, bool, bytes, NoneType, Any, Rec, Point])
_WRAPPERS = [
    lambda t: list[t],
    lambda t: set[t],
    lambda t: tuple[t, ...],
    lambda t: Iterator[t],
    lambda t: typing.List[t],
    lambda t: Optional[t],
    lambda t: t | None if isinstance(t, type) else Optional[t],
    ListType,
]


def _compose(children):
    wrapped = st.tuples(st.sampled_from(_WRAPPERS), children).map(lambda p: p[0](p[1]))
    pairs = st.tuples(children, children)
    return st.one_of(
        wrapped,
        pairs.map(lambda kv: dict[kv[0], kv[1]]),
        pairs.map(lambda ab: Union[ab[0], ab[1]]),
    )


TYPES = st.recursive(SCALARS, _compose, max_leaves=6)


@given(TYPES)
def test_every_type_fits_itself(tp):
    assert is_type_compatible(tp, tp)


@given(TYPES)
def test_type_name_is_deterministic(tp):
    text = get_type_name(tp)
    assert text == get_type_name(tp)
    assert "0x" not in text and "<class" not in text


@given(TYPES, TYPES)
def test_cache_agrees_with_rules(producer, consumer):
    uncached = is_type_compatible.__wrapped__(producer, consumer)
    assert is_type_compatible(producer, consumer) is uncached


@given(SCALARS)
def test_scalar_wiring_properties(tp):
    """EACH over any collection of a scalar; never wrap a scalar silently."""
    assert is_type_compatible(list[tp], tp)
    assert is_type_compatible(Iterator[tp], list[tp])
    assert not is_type_compatible(tp, list[tp])
    assert is_type_compatible(tp, Optional[tp])
