"""The byte bound of a stream hand-off (``max_in_flight_bytes``, issue #5 part 3), counted.

In the engine (``FanoutState`` under random schedules and sizes): a live branch never
buffers more than the bound in bytes unless it holds one item alone, nor more than
``capacity`` items; every item reaches every live reader once, in order; an item
bigger than the bound passes (no deadlock); the weighted (Ray) form answers ``room()``
in items of the measured size. In the local runners: what a producer has made and a
consumer has not yet received, in bytes, stays within the bound (plus the one item
held for a reader that is not reading, as for ``max_in_flight``).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synaflow import async_run, pipeline, run, step
from synaflow.engine.channels import END, ITEM, PULL, WAIT, FanoutState
from synaflow.engine.sizes import nbytes
from synaflow.execution.sync_handoff import bounded

MiB = 2**20


# -- sizes -------------------------------------------------------------------------------
class Sized:
    def __synaflow_nbytes__(self) -> int:
        return 12345


SIZES = [
    (b"abc", 3), (bytearray(7), 7), ("héllo", 5), (memoryview(np.zeros(4, np.int64)), 32),
    (np.zeros((8, 8), np.float32), 256), (pa.table({"x": pa.array(range(8), pa.int64())}), 64),
    (pa.record_batch([pa.array(range(4), pa.int32())], names=["y"]), 16), (Sized(), 12345),
]


@pytest.mark.parametrize("item, size", SIZES, ids=[type(x).__name__ for x, _ in SIZES])
def test_nbytes(item, size):
    """Arrays, tables, batches and buffers by their bytes; a type's own hook first."""
    assert nbytes(item) == size


def test_nbytes_fallback():
    """Anything else: sys.getsizeof (cheap, shallow); an ``nbytes`` that is not an
    integer (a method, say) is not taken for a size."""
    class Odd:
        def nbytes(self) -> int:
            return 10**9

    assert nbytes(7) == sys.getsizeof(7)
    assert nbytes(Odd()) == sys.getsizeof(Odd())


def test_sizes_import_no_numpy():
    """Measuring needs neither numpy nor pyarrow imported."""
    code = ("import sys, synaflow.engine.channels, synaflow.engine.sizes, synaflow\n"
            "print(sorted(m for m in ('numpy', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# -- FanoutState, one item per entry ---------------------------------------------------------
def _cost(item: tuple) -> int:
    return item[1]


def test_bytes_fill_then_wait():
    """Items of 1 MiB, bound 3 MiB, 'b' not reading: 'b' buffers three, one more is
    held for it, then 'a' waits with a reason naming the byte bound."""
    state = FanoutState("src", ["a", "b"], 64, max_bytes=3 * MiB, measure=_cost)
    got = []
    for i in range(10):
        kind, _ = state.poll("a")
        if kind == WAIT:
            break
        if kind == PULL:
            state.pulled((i, MiB))
        kind, value = state.poll("a")
        assert kind == ITEM
        got.append(value[0])
    assert got == [0, 1, 2, 3]
    assert [x for x, _ in state.buffers["b"]] == [0, 1, 2] and state.nbytes["b"] == 3 * MiB
    assert state.held == {"b": (3, MiB)}
    kind, reason = state.poll("a")
    assert kind == WAIT
    assert reason == f"handoff src->b full ({3 * MiB} of max_in_flight_bytes={3 * MiB} " \
                     "bytes in flight)"
    assert state.peak_bytes == 3 * MiB and state.peak == 3


def test_bytes_stop_before_pulling():
    """A reader that is reading: the next item is not even asked for while one more of
    the last size would not fit (no item made early)."""
    state = FanoutState("src", ["a", "b"], 64, max_bytes=3 * MiB, measure=_cost)
    for i in range(3):
        assert state.poll("a") == (PULL, None)
        state.pulled((i, MiB))
        assert state.poll("a") == (ITEM, (i, MiB))
    assert state.poll("b") == (ITEM, (0, MiB))  # 'b' is reading item 0, 2 MiB buffered
    assert state.poll("a") == (PULL, None)
    state.pulled((3, MiB))
    assert state.poll("a") == (ITEM, (3, MiB))
    assert state.poll("a")[0] == WAIT and state.pulled_count == 4 and not state.held


def test_item_bigger_than_bound_passes_alone():
    """A 5 MiB item under a 3 MiB bound goes through an empty buffer, alone."""
    state = FanoutState("src", ["a"], 8, max_bytes=3 * MiB, measure=_cost)
    items = [(0, MiB), (1, 5 * MiB), (2, MiB), (3, 4 * MiB)]
    got = []
    source = iter(items)
    while True:
        kind, value = state.poll("a")
        if kind == PULL:
            nxt = next(source, None)
            state.exhausted() if nxt is None else state.pulled(nxt)
        elif kind == ITEM:
            got.append(value)
        else:
            assert kind == END
            break
    assert got == items
    assert state.peak_bytes == 5 * MiB


def test_held_item_joins_when_it_fits():
    """An item bigger than the room left is held; once the reader took enough, it
    joins the buffer (the producer need not wait for the buffer to empty)."""
    state = FanoutState("src", ["a", "b"], 8, max_bytes=4 * MiB, measure=_cost)
    for item in [(0, MiB), (1, MiB), (2, 3 * MiB)]:
        assert state.poll("a") == (PULL, None)
        state.pulled(item)
        assert state.poll("a") == (ITEM, item)
    assert state.held == {"b": (2, 3 * MiB)} and state.nbytes["b"] == 2 * MiB
    assert state.poll("b") == (ITEM, (0, MiB))  # 1 MiB + 3 MiB fit in 4 MiB
    assert state.held == {} and [x for x, _ in state.buffers["b"]] == [1, 2]
    assert state.poll("b") == (ITEM, (1, MiB))
    assert state.poll("b") == (ITEM, (2, 3 * MiB))


def test_items_bound_still_applies():
    """Tiny items under a large byte bound: max_in_flight (2) is what stops them."""
    state = FanoutState("src", ["a", "b"], 2, max_bytes=MiB, measure=_cost)
    for i in range(3):
        assert state.poll("a") == (PULL, None)
        state.pulled((i, 1))
        assert state.poll("a")[0] == ITEM
    assert len(state.buffers["b"]) == 2 and state.held == {"b": (2, 1)}
    assert state.poll("a") == (WAIT, "handoff src->b full (2/2 in flight)")


def test_close_and_abort_drop_bytes():
    state = FanoutState("src", ["a", "b"], 8, max_bytes=10, measure=_cost)
    assert state.poll("a") == (PULL, None)
    state.pulled((0, 6))
    state.close("b")
    assert state.nbytes["b"] == 0 and not state.costs["b"]
    state.abort(RuntimeError("over"))
    assert state.nbytes == {"a": 0, "b": 0} and state.held_cost == {}


# -- FanoutState, random schedules --------------------------------------------------------------
def _check(state: FanoutState, model: dict, bound: int, capacity: int) -> None:
    biggest = max((s for _, s in model["source"]), default=0)
    assert state.peak_bytes <= max(bound, biggest)
    for c, buf in state.buffers.items():
        if c in state.closed:
            assert not buf and state.nbytes[c] == 0
            continue
        assert len(buf) <= capacity
        assert state.nbytes[c] == sum(s for _, s in buf) == sum(state.costs[c])
        # over the bound only by one item alone (zero-byte items hold nothing)
        assert state.nbytes[c] <= bound or sum(1 for _, s in buf if s) == 1, \
            "byte bound broken"
        if c not in model["ended"]:
            owed = len(buf) + (c in state.held)
            assert model["position"] - len(model["got"][c]) == owed, "an item lost"


@settings(max_examples=150, deadline=None)
@given(consumers=st.integers(1, 3), capacity=st.integers(1, 6), bound=st.integers(1, 40),
       sizes=st.lists(st.integers(0, 30), max_size=16), rnd=st.randoms(use_true_random=True))
def test_random_schedules_bytes(consumers, capacity, bound, sizes, rnd):
    """Random polls, pulls and closes over random sizes: the bounds hold after every
    step, and driving the live readers round-robin delivers everything, in order."""
    names = [f"c{i}" for i in range(consumers)]
    state = FanoutState("src", names, capacity, max_bytes=bound, measure=_cost)
    source = list(enumerate(sizes))
    model = {"source": source, "position": 0, "got": {c: [] for c in names},
             "ended": set()}
    pending = [None]

    def complete() -> None:
        if model["position"] == len(source):
            state.exhausted()
        else:
            state.pulled(source[model["position"]])
            model["position"] += 1
        pending[0] = None

    def poll(c: str) -> None:
        kind, value = state.poll(c)
        if kind == ITEM:
            model["got"][c].append(value)
            assert model["got"][c] == source[:len(model["got"][c])], "order or duplicate"
        elif kind == PULL:
            assert pending[0] is None
            pending[0] = c
        elif kind == END:
            assert model["got"][c] == source
            model["ended"].add(c)
        else:
            assert kind == WAIT and not state.buffers[c]

    for _ in range(60):
        live = [c for c in names if c not in model["ended"] and c not in state.closed]
        roll = rnd.random()
        if pending[0] is not None and roll < 0.4:
            complete()
        elif live and roll < 0.97:
            poll(rnd.choice(live))
        elif len(live) > 1:
            state.close(rnd.choice(live))
        _check(state, model, bound, capacity)
    for _ in range(4 * (len(source) + 2) * (consumers + 1) * (capacity + 2)):
        live = [c for c in names if c not in model["ended"] and c not in state.closed]
        if not live and pending[0] is None:
            break
        if pending[0] is not None:
            complete()
        for c in live:
            poll(c)
        _check(state, model, bound, capacity)
    else:
        raise AssertionError("readers never finished: a deadlock")


# -- FanoutState, weighted entries (the Ray runner's slices) -------------------------------------
def slice_len(entry: tuple) -> int:
    return entry[2] - entry[1]


def slice_bytes(entry: tuple) -> int:
    """``(ref, start, stop, item_bytes)``, as in ``synaflow.distributed.streams``."""
    return (entry[2] - entry[1]) * entry[3]


def _weighted(capacity: int, bound: int) -> FanoutState:
    return FanoutState("src", ["c"], capacity, weigh=slice_len, max_bytes=bound,
                       measure=slice_bytes)


def test_room_counts_items_of_measured_size():
    """One item until a size is known, then as many of that size as fit; a slice
    split by its consumer keeps its bytes per item."""
    state = _weighted(64, 3 * MiB)
    assert state.room() == 1
    state.pulled(("r", 0, 1, MiB))
    assert state.room() == 2
    state.pulled(("r2", 0, 2, MiB))
    assert state.room() == 0 and state.peak_bytes == 3 * MiB and state.peak == 3
    kind, entry = state.poll("c")
    assert (kind, entry) == (ITEM, ("r", 0, 1, MiB)) and state.room() == 1
    kind, entry = state.poll("c")
    state.give_back("c", ("r2", 1, 2, MiB))  # the consumer took one of the two items
    assert state.nbytes["c"] == MiB and state.room() == 2


def test_room_big_items_one_at_a_time():
    """Items bigger than the bound: one at a time, never none."""
    state = _weighted(64, MiB)
    state.pulled(("r", 0, 1, 5 * MiB))
    assert state.room() == 0
    state.poll("c")
    assert state.room() == 1


def test_room_item_bound_caps_bytes():
    state = _weighted(2, 10 * MiB)
    state.pulled(("r", 0, 1, 1))
    assert state.room() == 1


# -- the local runners, counted ------------------------------------------------------------
class Sizes(NamedTuple):
    sizes: tuple


LOG: list = []
LOCK = threading.Lock()


def note(*event) -> None:
    with LOCK:
        LOG.append(event)


def blobs(sizes: tuple) -> Iterator[bytes]:
    for i, size in enumerate(sizes):
        note("made", i, size)
        yield bytes([i]) * size


def took(reader: str, blobs: Iterator[bytes], pause: float = 0.0) -> list:
    """Read every blob, noting each as taken by ``reader``; the first bytes, in order."""
    out = []
    for b in blobs:
        note("took", reader, b[0], len(b))
        out.append(b[0])
        if pause:
            time.sleep(pause)
    return out


def drink(blobs: Iterator[bytes]) -> list:
    return took("drink", blobs)


def sip(blob: bytes) -> int:
    note("took", "sip", blob[0], len(blob))
    return blob[0]


def slow(blobs: Iterator[bytes]) -> list:
    return took("slow", blobs, 0.002)  # lets 'fast' run ahead as far as the bound allows


def fast(blobs: Iterator[bytes]) -> list:
    return took("fast", blobs)


async def ablobs(sizes: tuple) -> AsyncIterator[bytes]:
    for i, size in enumerate(sizes):
        note("made", i, size)
        yield bytes([i]) * size


async def aslow(ablobs: AsyncIterator[bytes]) -> list:
    out = []
    async for b in ablobs:
        note("took", "aslow", b[0], len(b))
        out.append(b[0])
        await asyncio.sleep(0.001)
    return out


async def afast(ablobs: AsyncIterator[bytes]) -> list:
    out = []
    async for b in ablobs:
        note("took", "afast", b[0], len(b))
        out.append(b[0])
    return out


def peak_bytes(consumer: str) -> int:
    """Max over time of the bytes made and not yet received by ``consumer``."""
    held = peak = 0
    sizes = {}
    for event in LOG:
        if event[0] == "made":
            sizes[event[1]] = event[2]
            held += event[2]
            peak = max(peak, held)
        elif event[1] == consumer:
            held -= sizes[event[2]]
    return peak


def _chain(consumer, bound):
    return pipeline(name="bytes_chain", params=Sizes, steps=[
        step("blobs", fn=blobs, max_in_flight=8, max_in_flight_bytes=bound),
        step(consumer.__name__, fn=consumer)])


UNIFORM = (MiB,) * 12
WITH_BIG = (MiB, MiB, 5 * MiB, MiB, MiB, 4 * MiB, MiB)


@pytest.mark.parametrize("consumer", [drink, sip])
def test_sync_chain_bytes(consumer):
    """One reader (ALL, then EACH): 1 MiB items under a 3 MiB bound never have more
    than 3 MiB made and not received; without the bound, max_in_flight=8 lets 8 MiB."""
    LOG.clear()
    out = run(_chain(consumer, 3 * MiB), Sizes(UNIFORM)).outputs[consumer.__name__]
    assert out == list(range(12))
    assert peak_bytes(consumer.__name__) == 3 * MiB
    LOG.clear()
    run(_chain(consumer, None), Sizes(UNIFORM))
    assert peak_bytes(consumer.__name__) == 8 * MiB


def test_sync_chain_big_items():
    """Items bigger than the bound pass, alone; at most one item waits beyond the bound."""
    LOG.clear()
    assert run(_chain(drink, "3MiB"), Sizes(WITH_BIG)).outputs["drink"] == list(range(7))
    assert peak_bytes("drink") <= 3 * MiB + 5 * MiB
    took = [e[2] for e in LOG if e[0] == "took"]
    assert took == list(range(7))


def test_bounded_bytes_refills():
    """The refill shape under 3 MiB: item 2 (2 MiB) turns out too big for the room
    left, so it waits for the next refill, which it starts; there, one more item of
    its size would not fit, so it goes alone."""
    items = [bytes(MiB), bytes(MiB), bytes(2 * MiB), bytes(MiB)]
    events = []

    def source():
        for i, item in enumerate(items):
            events.append(f"make {i}")
            yield item

    for i, _ in enumerate(bounded(source(), 8, 3 * MiB)):
        events.append(f"take {i}")
    assert events == ["make 0", "make 1", "make 2", "take 0", "take 1", "take 2",
                      "make 3", "take 3"]


@pytest.mark.parametrize("sizes", [UNIFORM, WITH_BIG], ids=["uniform", "with_big"])
def test_sync_fanout_bytes(sizes):
    """Two readers, one slow: neither ever has more than the bound waiting for it, plus
    the one item held for a reader that is not reading (the max_in_flight rule)."""
    LOG.clear()
    p = pipeline(name="bytes_fan", params=Sizes, steps=[
        step("blobs", fn=blobs, max_in_flight=8, max_in_flight_bytes=3 * MiB),
        step("slow", fn=slow), step("fast", fn=fast)])
    out = run(p, Sizes(sizes)).outputs
    assert out == {"slow": list(range(len(sizes))), "fast": list(range(len(sizes)))}
    for consumer in ("slow", "fast"):
        assert peak_bytes(consumer) <= 3 * MiB + max(sizes), consumer


@pytest.mark.parametrize("sizes", [UNIFORM, WITH_BIG], ids=["uniform", "with_big"])
def test_async_fanout_bytes(sizes):
    """The asyncio runner's fan-out keeps the same bound."""
    LOG.clear()
    p = pipeline(name="bytes_afan", params=Sizes, steps=[
        step("ablobs", fn=ablobs, max_in_flight=8, max_in_flight_bytes="3MiB"),
        step("aslow", fn=aslow), step("afast", fn=afast)])
    out = asyncio.run(async_run(p, Sizes(sizes))).outputs
    assert out == {"aslow": list(range(len(sizes))), "afast": list(range(len(sizes)))}
    for consumer in ("aslow", "afast"):
        assert peak_bytes(consumer) <= 3 * MiB + max(sizes), consumer
    # the unbounded control: the fast reader runs 8 items ahead of the slow one
    LOG.clear()
    p = pipeline(name="items_afan", params=Sizes, steps=[
        step("ablobs", fn=ablobs, max_in_flight=8), step("aslow", fn=aslow),
        step("afast", fn=afast)])
    asyncio.run(async_run(p, Sizes(UNIFORM)))
    assert peak_bytes("aslow") > 4 * MiB
