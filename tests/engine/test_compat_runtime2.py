"""Compatibility with 0.32.4, round two (issue 12): error phrases users match on, and
the run-time differences docs/compatibility.md records (each pinned here).

The run-time behaviours that are runner semantics (materializer overrides, plain
values, STOP while materializing) are conformance cases instead
(``synaflow.testing.cases``), checked on every runner.
"""
from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import pytest
from ray import cloudpickle

from synaflow import (ErrorContext, ExecutionOverrides, Observer, OnError, async_run,
                      pipeline, run, step)
from synaflow.testing.ray_runner import RayRunner

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers lack test files


class P(NamedTuple):
    n: int = 3


class Rows(NamedTuple):
    rows: list[int]


class Conn:
    pass


def conn() -> Conn:
    return Conn()


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def total(numbers: list[int]) -> int:
    return sum(numbers)


def plain(n: int) -> int:
    return n


async def plain_async(n: int) -> int:
    return n


def uses_conn(n: int, conn: Conn) -> int:
    return n


def record(err: ErrorContext) -> None:
    pass


async def record_async(err: ErrorContext) -> None:
    pass


# -- messages: 0.32.4's key phrase in each of our errors ---------------------------------
def _async_cm_resource():
    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[Conn]:
        yield Conn()

    def use(n: int, session: Conn) -> int:
        return n
    run(pipeline(name="acm", params=P, resources={"session": session},
                 steps=[step("use", fn=use)]), P())


def _sync_run_of_async():
    run(pipeline(name="needs_async", params=P, steps=[step("plain_async", fn=plain_async)]),
        P())


def _observed():
    return pipeline(name="observed", params=P, steps=[step("plain", fn=plain)],
                    observers=[Observer(lambda ctx: None)])


def _observers_not_list():
    ExecutionOverrides.from_production(_observed()).observers["plain"] = "audit"


def _observers_bad_entry():
    ExecutionOverrides.from_production(_observed()).observers["plain"] = [5]


def _with_conn():
    return pipeline(name="with_conn", params=P, resources={"conn": conn},
                    steps=[step("uses_conn", fn=uses_conn)])


def _resource_none():
    ExecutionOverrides.from_production(_with_conn()).resources["conn"] = None


def _materializer_none():
    p = pipeline(name="mat_none", params=P, steps=[step("numbers", fn=numbers),
                                                   step("total", fn=total)])
    ExecutionOverrides.from_production(p).materializers["numbers"] = None


def _undeclared_resource():
    pipeline(name="undeclared", params=P, steps=[step("uses_conn", fn=uses_conn)])


def _async_error_materializer():
    pipeline(name="em_async", params=P,
             steps=[step("plain", fn=plain, error_materializer=record_async)])


def _sync_error_materializer():
    pipeline(name="em_sync", params=P,
             steps=[step("plain_async", fn=plain_async, error_materializer=record)])


def _each_returns_stream():
    def spread(row: int) -> Iterator[int]:
        yield row
    pipeline(name="nested", params=Rows, steps=[step("spread", fn=spread)])


def _terminal_stream():
    pipeline(name="terminal", params=P, steps=[step("numbers", fn=numbers)])


def _materializer_not_callable():
    pipeline(name="mat5", params=P, steps=[step("numbers", fn=numbers, materializer=5),
                                           step("total", fn=total)])


def _error_materializer_not_callable():
    pipeline(name="em5", params=P, steps=[step("plain", fn=plain, error_materializer=5)])


MESSAGES = [
    ("async_cm_in_sync_run", _async_cm_resource, TypeError,
     ["resource 'session' produced an async context manager"]),
    ("run_of_async_pipeline", _sync_run_of_async, RuntimeError,
     ["Pipeline 'needs_async'", "must be executed with async_run"]),
    ("observers_override_not_list", _observers_not_list, TypeError,
     ["'plain'", "must be a list of observers"]),
    ("observers_override_bad_entry", _observers_bad_entry, TypeError,
     ["'plain'", "must contain only callables or Observer registrations"]),
    ("resource_override_none", _resource_none, TypeError, ["'conn'", "cannot be None"]),
    ("materializer_override_none", _materializer_none, TypeError,
     ["'numbers'", "cannot be None", "must be callable"]),
    ("undeclared_resource", _undeclared_resource, ValueError,
     ["Pipeline 'undeclared'", "step 'uses_conn'", "(type 'Conn')",
      "did you forget to declare it in resources"]),
    ("error_materializer_async", _async_error_materializer, TypeError,
     ["Pipeline 'em_async'", "error_materializer 'record_async' is async"]),
    ("error_materializer_sync", _sync_error_materializer, TypeError,
     ["Pipeline 'em_sync'", "error_materializer 'record' is synchronous"]),
    ("each_returns_stream", _each_returns_stream, ValueError,
     ["Each-mode steps cannot return stream-like outputs", "nested streams", "'spread'"]),
    ("terminal_stream", _terminal_stream, ValueError,
     ["Pipeline 'terminal'", "terminal step 'numbers' returns a stream type",
      "never materialized"]),
    ("materializer_not_callable", _materializer_not_callable, TypeError,
     ["Pipeline 'mat5'", "materializer for step 'numbers' is not callable"]),
    ("error_materializer_not_callable", _error_materializer_not_callable, TypeError,
     ["Pipeline 'em5'", "error materializer for step 'plain' is not callable"]),
]


@pytest.mark.parametrize("trigger, kind, phrases", [m[1:] for m in MESSAGES],
                         ids=[m[0] for m in MESSAGES])
def test_message_keeps_phrase(trigger, kind, phrases):
    """Each error keeps 0.32.4's key phrase (users match on it) and its class, around
    our own text naming the pipeline, step or key."""
    with pytest.raises(kind) as info:
        trigger()
    for phrase in phrases:
        assert phrase in str(info.value), f"{phrase!r} not in {str(info.value)!r}"


# -- differences recorded in docs/compatibility.md ------------------------------------------
RUNNERS = {
    "sync": lambda p, params: run(p, params),
    "async": lambda p, params: asyncio.run(async_run(p, params)),
    "ray-debug": lambda p, params: RayRunner(True).run(p, params),
    "ray-serialize": lambda p, params: RayRunner("serialize").run(p, params),
}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("policy", [OnError.CONTINUE, OnError.STOP])
def test_factory_called_once_per_use(runner, policy, tmp_path):
    """EACH over 3 rows with a context-manager resource: the factory is called once per
    row, 3 times (0.32.4 called it once more first, to probe what it returns). Calls are
    counted in a file: with serialisation the factory runs as a copy."""
    calls = tmp_path / "calls"
    calls.write_text("")

    class Session:
        def __enter__(self) -> Conn:
            return Conn()

        def __exit__(self, *exc: object) -> None:
            pass

    def session() -> Conn:
        with open(calls, "a") as out:
            out.write("called\n")
        return Session()  # type: ignore[return-value]

    def per_row(row: int, session: Conn) -> int:
        return row

    p = pipeline(name="probe", params=Rows, resources={"session": session},
                 steps=[step("per_row", fn=per_row, on_error=policy)])
    assert RUNNERS[runner](p, Rows([1, 2, 3])).outputs == {"per_row": [1, 2, 3]}
    assert calls.read_text().splitlines() == ["called"] * 3


def test_empty_overrides_resources():
    """``ExecutionOverrides.empty(p).resources`` lists each declared resource, and ``in``
    and ``[]`` agree with the listing: the production factory, which the run uses
    (0.32.4 listed the key, then ``in`` said False and ``[]`` raised KeyError)."""
    p = _with_conn()
    resources = ExecutionOverrides.empty(p).resources
    assert list(resources) == ["conn"] and len(resources) == 1
    assert "conn" in resources
    assert resources["conn"] is conn and resources.resolve("conn") is conn
    assert not resources.is_overridden("conn")


class Seen(NamedTuple):
    n: int = 3


def _received(materializer, runner):
    """What an ``Iterator[int]`` consumer and a ``list[int]`` sibling receive."""
    got = {}

    def lazy(numbers: Iterator[int]) -> int:
        got["lazy"] = type(numbers).__name__
        got["lazy_items"] = list(numbers)
        return 0

    def listed(numbers: list[int]) -> int:
        got["listed"] = type(numbers).__name__
        return 0

    p = pipeline(name="iter_consumer", params=Seen, steps=[
        step("numbers", fn=numbers, materializer=materializer), step("lazy", fn=lazy),
        step("listed", fn=listed)])
    RUNNERS[runner](p, Seen())
    return got


@pytest.mark.parametrize("runner", ["sync", "async", "ray-debug"])
def test_iterator_consumer_of_materialized_stream(runner):
    """Default materializer: an ``Iterator[...]`` consumer gets a fresh iterator over the
    collected list (0.32.4: the list itself). Custom materializer: an iterator over its
    result (a tuple here; a dict gives its keys), never the result itself."""
    assert _received(None, runner) == {"lazy": "list_iterator", "lazy_items": [0, 1, 2],
                                       "listed": "list"}
    as_tuple = _received(lambda items: tuple(x * 10 for x in items), runner)
    assert as_tuple == {"lazy": "tuple_iterator", "lazy_items": [0, 10, 20],
                        "listed": "tuple"}
    as_dict = _received(lambda items: {f"k{x}": x for x in items}, runner)
    assert as_dict == {"lazy": "dict_keyiterator", "lazy_items": ["k0", "k1", "k2"],
                       "listed": "dict"}
