"""Pipelines of the object-store tests: large values, where they live, how long.

Module-level functions, pickled by value for Ray workers (see ``conftest.py``).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from synaflow import pipeline, step
from synaflow.materializers import object_store_materializer

MB = 1 << 20


class Size(NamedTuple):
    n: int  # int64 elements of the large value


def store_usage() -> tuple[int, int]:
    """(bytes, objects) in this node's object store, asked from any Ray process."""
    import ray
    from ray._private.internal_api import get_memory_info_reply, get_state_from_address

    reply = get_memory_info_reply(get_state_from_address(
        ray.get_runtime_context().gcs_address))
    return reply.store_stats.object_store_bytes_used, reply.store_stats.num_local_objects


def in_shared_memory(address: int) -> bool:
    """Does ``address`` lie in a /dev/shm mapping (the object store) of this process?"""
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            low, high = (int(x, 16) for x in parts[0].split("-"))
            if low <= address < high:
                return len(parts) > 5 and parts[5].startswith("/dev/shm")
    return False


# -- zero-copy reads ----------------------------------------------------------------------
def array(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def table(n: int) -> pa.Table:
    return pa.table({"a": np.arange(n, dtype=np.int64), "b": np.ones(n)})


def look(array: np.ndarray, table: pa.Table) -> dict:
    """Where the consumer's inputs are: shared memory (zero-copy) or its own heap."""
    column = table.column("a").chunk(0)
    return {"array_in_store": in_shared_memory(array.ctypes.data),
            "array_writeable": bool(array.flags.writeable),
            "table_in_store": in_shared_memory(column.buffers()[1].address),
            "sum": int(array.sum()) + int(table.column("a").chunk(0).to_numpy()[-1])}


def zero_copy() -> Any:
    return pipeline(name="zero_copy", params=Size, steps=[
        step("array", fn=array), step("table", fn=table), step("look", fn=look)])


# -- inline below the threshold, object store above ----------------------------------------
def small(n: int) -> list[int]:
    return [n, n + 1]


def total(array: np.ndarray, small: list[int]) -> int:
    return int(array.sum()) + sum(small)


def sizes(**big_ray: Any) -> Any:
    return pipeline(name="sizes", params=Size, steps=[
        step("array", fn=array, ray=big_ray or None), step("small", fn=small),
        step("total", fn=total)])


# -- lifetimes -----------------------------------------------------------------------------
def chunks(n: int) -> Iterator[np.ndarray]:
    for i in range(4):
        yield np.full(n // 4, i, dtype=np.int64)


def joined(chunks: list[np.ndarray]) -> int:
    return int(sum(int(c.sum()) for c in chunks))


def scaled(chunks: np.ndarray, array: np.ndarray) -> int:
    """An EACH step with a large static input (cached per worker process)."""
    return int(chunks[:3].sum()) + int(array[-1])


def count(scaled: list[int]) -> int:
    return len(scaled)


def lifetimes() -> Any:
    """Large values read by a value step, by an EACH step (as a static input and as
    its rows) and collected by the object-store materializer; small outputs."""
    return pipeline(name="lifetimes", params=Size, steps=[
        step("array", fn=array),
        step("chunks", fn=chunks, materializer=object_store_materializer(),
             force_materialize=True),
        step("joined", fn=joined),
        step("scaled", fn=scaled),
        step("count", fn=count),
        step("look_sum", fn=total_of_array)])


def total_of_array(array: np.ndarray) -> int:
    return int(array.sum())


def released_in_run(total_of_array: int, n: int) -> int:
    """Runs after the only reader of 'array' is over: how many bytes does the store
    hold by then? (The run drops 'array' once its reader is done.)"""
    deadline = time.monotonic() + 20
    low = store_usage()[0]
    while low >= n * 8 and time.monotonic() < deadline:
        time.sleep(0.05)
        low = min(low, store_usage()[0])
    return low


def released_early() -> Any:
    return pipeline(name="released_early", params=Size, steps=[
        step("array", fn=array), step("total_of_array", fn=total_of_array),
        step("released_in_run", fn=released_in_run)])


def big_output(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def kept_output() -> Any:
    return pipeline(name="kept_output", params=Size, steps=[step("big_output", fn=big_output)])


# -- same outputs on every runner ------------------------------------------------------------
class Words(NamedTuple):
    text: str


def words(text: str) -> Iterator[str]:
    yield from text.split()


def distinct(words: set[str]) -> list[str]:
    return sorted(words)


def ordered(words: list[str]) -> str:
    return "-".join(words)


def streamed(words: Iterator[str]) -> int:
    return sum(len(w) for w in words)


def shaped(materializer: Any) -> Any:
    return pipeline(name="shaped", params=Words, steps=[
        step("words", fn=words, materializer=materializer),
        step("distinct", fn=distinct), step("ordered", fn=ordered),
        step("streamed", fn=streamed)])


def tables(n: int) -> Iterator[pa.Table]:
    for i in range(3):
        yield pa.table({"x": np.full(n, i, dtype=np.int64)})


def table_sum(tables: list[pa.Table]) -> int:
    return sum(int(t.column("x").to_numpy().sum()) for t in tables)


def arrow_tables(materializer: Any) -> Any:
    return pipeline(name="arrow_tables", params=Size, steps=[
        step("tables", fn=tables, materializer=materializer),
        step("table_sum", fn=table_sum)])


# -- errors ----------------------------------------------------------------------------------
def lock(n: int) -> Any:
    return threading.Lock()


def uses_lock(lock: Any) -> int:
    return 1


def unpicklable(materializer: Any) -> Any:
    return pipeline(name="unpicklable", params=Size, steps=[
        step("lock", fn=lock, materializer=materializer, force_materialize=True),
        step("uses_lock", fn=uses_lock)])


class Locked:
    """An item that holds a lock only for ``index == 1``: Ray cannot serialise that one."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.lock = threading.Lock() if index == 1 else None


class Indices(NamedTuple):
    items: list[int] = [0, 1, 2]


def locked_each(item: int) -> Locked:
    return Locked(item)


def each_indices(locked_each: list[Locked]) -> list[int]:
    return [x.index for x in locked_each]


def locked_stream(items: list[int]) -> Iterator[Locked]:
    for i in items:
        yield Locked(i)


def stream_indices(locked_stream: Iterator[Locked]) -> list[int]:
    return [x.index for x in locked_stream]


def unpicklable_items(kind: str, on_error: Any, reports: Any = None) -> Any:
    if kind == "each":
        steps = [step("locked_each", fn=locked_each, on_error=on_error),
                 step("each_indices", fn=each_indices)]
    else:
        steps = [step("locked_stream", fn=locked_stream, on_error=on_error),
                 step("stream_indices", fn=stream_indices)]
    return pipeline(name=f"unpicklable_{kind}", params=Indices, steps=steps,
                    **({} if reports is None else {"error_materializer": reports.append}))
