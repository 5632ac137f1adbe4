"""Resources (plain and context managers), overrides, observers silenced."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from ...core.definition import step
from ...core.naming import Scope
from ...execution.overrides import ExecutionOverrides
from ..asyncify import _async_handler
from ..case import Case, make
from . import composition, streams


class Rows(NamedTuple):
    rows: list[int]


class Conn:
    def __init__(self) -> None:
        self.open = False
        self.uses = 0


def plain_conn() -> Conn:
    conn = Conn()
    conn.open = True
    return conn


@contextmanager
def managed_conn() -> Iterator[Conn]:
    conn = Conn()
    conn.open = True
    try:
        yield conn
    finally:
        conn.open = False


def streamed(rows: list[int], conn: Conn) -> Iterator[tuple[int, bool]]:
    for r in rows:
        yield (r, conn.open)


def open_flags(streamed: list[tuple[int, bool]]) -> list[bool]:
    return [flag for _, flag in streamed]


def cm_open_during_stream():
    return make("cm_open_during_stream", Rows, [step("streamed", fn=streamed),
                                                step("open_flags", fn=open_flags)],
                resources={"conn": managed_conn})


def per_row(row: int, conn: Conn) -> int:
    conn.uses += 1
    return conn.uses if conn.open else -1


def cm_per_row():
    return make("cm_per_row", Rows, [step("per_row", fn=per_row)],
                resources={"conn": managed_conn})


def shared_plain(row: int, conn: Conn) -> int:
    conn.uses += 1
    return conn.uses


def plain_once_per_step():
    return make("plain_once_per_step", Rows, [step("shared_plain", fn=shared_plain)],
                resources={"conn": plain_conn})


def fake_conn_override(p):
    ov = ExecutionOverrides.from_production(p)
    fake = Conn()
    fake.open = True
    fake.uses = 100
    ov.resources["conn"] = fake
    return ov


def silenced(p):
    return ExecutionOverrides.empty(p)


def tenfold(items: list[int]) -> list[int]:
    return [x * 10 for x in items]


def override_materializer(key: str):
    """Overrides with ``tenfold`` as the materializer of ``key``: a step that had only
    the default materializer (0.32.4 applied it, and gave its result to every
    consumer). An async pipeline gets it as an awaitable handler of the stream."""
    def overrides(p):
        ov = ExecutionOverrides.from_production(p)
        ov.materializers[key] = _async_handler(tenfold) if p.dag.requires_async_runner \
            else tenfold
        return ov
    return overrides


def no_events(outcome) -> None:
    assert outcome.events == {"pipeline": [], "steps": {}}, outcome.events


ROWS = Rows([1, 2, 3])

CASES = [
    Case("cm_open_during_stream", cm_open_during_stream, ROWS,
         {"open_flags": [True, True, True]}),
    Case("cm_per_row", cm_per_row, ROWS, {"per_row": [1, 1, 1]}),
    Case("plain_once_per_step", plain_once_per_step, ROWS, {"shared_plain": [1, 2, 3]}),
    Case("resource_override", plain_once_per_step, ROWS, {"shared_plain": [101, 102, 103]},
         overrides=fake_conn_override),
    Case("observers_silenced", plain_once_per_step, ROWS, {"shared_plain": [1, 2, 3]},
         overrides=silenced, check=no_events),
    Case("materializer_override_default", streams.shapes, streams.N(4),
         {"kinds": ("list", "list")}, overrides=override_materializer("numbers")),
    Case("materializer_override_every_consumer", streams.fanout_mixed, streams.N(3),
         {"collected": ([10, 20, 30], [11, 21, 31])}, overrides=override_materializer("numbers")),
    Case("materializer_override_scoped", composition.digits_include, composition.Job(3),
         {"shown": 60}, overrides=override_materializer(Scope("inc")("digits"))),
]
