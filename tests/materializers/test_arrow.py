"""Arrow materializer: inputs, Parquet/IPC outputs, atomicity, bad input, consumer shapes."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple, Optional

import pytest

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.fs as pafs

from synaflow import async_run, pipeline, run, step  # noqa: E402
from synaflow.core.dag import Dag  # noqa: E402
from synaflow.core.default_materializers import callable_ref, is_factory, load_ref  # noqa: E402
from synaflow.core.exceptions import PipelineDefinitionError  # noqa: E402
from synaflow.core.signatures import is_async_callable  # noqa: E402
from synaflow.core.types import MaterializeContext  # noqa: E402
from synaflow.materializers.arrow import (ArrowConversionError, ArrowDatasetRef,  # noqa: E402
                                          ArrowMaterializer, AsyncArrowMaterializer,
                                          arrow_materializer, delivers_arrow, shape_arrow)

ROWS = [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(10)]


def ctx(step_name: str = "rows", is_async: bool = False) -> MaterializeContext:
    return MaterializeContext("etl", step_name, None, None, is_async)


def materializer(path: Any = None, step_name: str = "rows", **kwargs: Any) -> ArrowMaterializer:
    return arrow_materializer(path, **kwargs)(ctx(step_name))


def listing(folder: Any) -> list[str]:
    """Every file and folder below ``folder``, relative, sorted (hidden temps included)."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        out += [os.path.normpath(os.path.join(rel, n)) for n in dirs + files]
    return sorted(out)


def batch(ids: list[int], **extra: Any) -> Any:
    return pa.record_batch({"id": pa.array(ids, pa.int64()),
                            "name": pa.array([f"n{i}" for i in ids]), **extra})


# -- inputs -------------------------------------------------------------------------------------
def test_table_in_memory():
    """Without a path the result is a Table equal to the input."""
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    result = materializer()(table)
    assert isinstance(result, pa.Table) and result.equals(table)


def test_batches_in_memory():
    """A list of RecordBatches becomes one Table, order kept."""
    result = materializer()([batch([0, 1]), batch([2]), batch([3, 4, 5])])
    assert result.column("id").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert result.schema.names == ["id", "name"]


def test_dict_rows_inferred_schema():
    """Dict rows: types inferred from the first batch, rows grouped by batch_rows."""
    result = materializer(batch_rows=4)(iter(ROWS))
    assert result.schema == pa.schema([("id", pa.int64()), ("name", pa.string()),
                                       ("score", pa.float64())])
    assert [b.num_rows for b in result.to_batches()] == [4, 4, 2]
    assert result.to_pylist() == ROWS


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Pair(NamedTuple):
    x: int
    y: float


def test_row_kinds_with_declared_schema():
    """Dataclasses, named tuples and plain tuples follow the declared schema's types."""
    schema = pa.schema([("x", pa.int32()), ("y", pa.float32())])
    result = materializer(schema=schema)([Point(1, 0.5), Pair(2, 1.5), (3, 2.5), {"x": 4,
                                                                                 "y": 3.5}])
    assert result.schema == schema
    assert result.to_pydict() == {"x": [1, 2, 3, 4], "y": [0.5, 1.5, 2.5, 3.5]}


def test_declared_schema_casts_batches():
    """Batches are cast to a declared schema (int32 -> int64, reordered columns)."""
    schema = pa.schema([("name", pa.string()), ("id", pa.int64())])
    incoming = pa.record_batch({"id": pa.array([1, 2], pa.int32()), "name": ["a", "b"]})
    result = materializer(schema=schema)([incoming])
    assert result.schema == schema and result.column("id").to_pylist() == [1, 2]


def test_inferred_vs_declared_schema(tmp_path):
    """The written file carries the declared schema, or the inferred one."""
    declared = pa.schema([("id", pa.int16()), ("name", pa.large_string()),
                          ("score", pa.float32())])
    inferred_ref = materializer(tmp_path, "inferred")(ROWS)
    declared_ref = materializer(tmp_path, "declared", schema=declared)(ROWS)
    assert pq.read_schema(inferred_ref.path).field("id").type == pa.int64()
    assert pq.read_schema(declared_ref.path) == declared
    assert declared_ref.schema == declared


def test_columns_mapping_and_empty():
    """A mapping value is read as columns; an empty stream gives an empty table."""
    assert materializer()({"a": [1, 2], "b": ["x", "y"]}).num_rows == 2
    empty = materializer(schema=pa.schema([("a", pa.int8())]))([])
    assert empty.num_rows == 0 and empty.schema.names == ["a"]
    assert materializer()(iter(())).num_rows == 0


# -- outputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, ext", [("parquet", "parquet"), ("ipc", "arrow")])
def test_persisted_formats(tmp_path, fmt, ext):
    """Parquet or IPC file named after the step; the ref reads it back lazily."""
    ref = materializer(tmp_path, format=fmt, batch_rows=3)(ROWS)
    assert isinstance(ref, ArrowDatasetRef) and listing(tmp_path) == [f"rows.{ext}"]
    assert ref.path == str(tmp_path / f"rows.{ext}") and ref.num_rows == len(ref) == 10
    on_disk = pq.read_table(ref.path) if fmt == "parquet" else \
        pa.ipc.open_file(pa.memory_map(ref.path)).read_all()
    assert on_disk.to_pylist() == ROWS == ref.to_pylist() == list(ref.iter_rows())
    assert ref.to_table().equals(on_disk)
    assert sum(b.num_rows for b in ref.to_batches(batch_rows=4)) == 10
    assert pickle.loads(pickle.dumps(ref)).to_pylist() == ROWS


def test_file_uri(tmp_path):
    """A file:// URI goes through pyarrow.fs.FileSystem.from_uri."""
    ref = materializer(f"file://{tmp_path}/out", file_name="data.parquet")(ROWS)
    assert (tmp_path / "out" / "data.parquet").is_file()
    assert ref.uri == f"file://{tmp_path}/out/data.parquet"
    assert ref.to_pylist() == ROWS


def test_explicit_filesystem(tmp_path):
    """filesystem= takes paths inside it (here a SubTreeFileSystem rooted at tmp_path)."""
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    ref = materializer("nested/dir", filesystem=fs)(ROWS)
    assert (tmp_path / "nested" / "dir" / "rows.parquet").is_file()
    assert ref.to_table().num_rows == 10


@pytest.mark.parametrize("fmt", ["parquet", "ipc"])
def test_partitioned_output(tmp_path, fmt):
    """Hive partitions in <path>/<step>/key=value/; a rerun replaces the whole folder."""
    rows = [{"k": "a" if i % 2 else "b", "v": i} for i in range(8)]
    ref = materializer(tmp_path, "parts", format=fmt, partition_by="k", batch_rows=3)(rows)
    assert sorted(os.listdir(tmp_path / "parts")) == ["k=a", "k=b"]
    table = ref.to_table()
    assert table.schema == pa.schema([("k", pa.string()), ("v", pa.int64())])
    assert sorted(table.to_pylist(), key=lambda r: r["v"]) == rows
    ref = materializer(tmp_path, "parts", format=fmt, partition_by=["k"])(
        [{"k": "c", "v": 1}])
    assert sorted(os.listdir(tmp_path / "parts")) == ["k=c"]
    assert ref.to_pylist() == [{"k": "c", "v": 1}] and listing(tmp_path)[0] == "parts"
    assert not [n for n in listing(tmp_path) if os.path.basename(n).startswith(".")]


def test_parquet_row_groups(tmp_path):
    """Batches are gathered into row groups of at most row_group_rows rows."""
    def groups(ref: ArrowDatasetRef) -> list[int]:
        meta = pq.ParquetFile(ref.path).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]

    assert groups(materializer(tmp_path, "one", batch_rows=3)(ROWS)) == [10]
    small = groups(materializer(tmp_path, "small", batch_rows=3, row_group_rows=4)(ROWS))
    assert sum(small) == 10 and max(small) <= 4


def test_empty_ref_is_truthy(tmp_path):
    ref = materializer(tmp_path, schema=pa.schema([("a", pa.int8())]))([])
    assert bool(ref) and len(ref) == 0 and ref.to_table().schema.names == ["a"]


def test_overwrite_replaces_file(tmp_path):
    materializer(tmp_path)(ROWS)
    assert materializer(tmp_path)(ROWS[:2]).to_table().num_rows == 2
    assert listing(tmp_path) == ["rows.parquet"]


# -- atomicity ----------------------------------------------------------------------------------
def failing_after(n: int) -> Iterator[Any]:
    for i in range(n):
        yield batch([i])
    raise RuntimeError("producer died")


@pytest.mark.parametrize("fmt", ["parquet", "ipc"])
def test_failure_keeps_previous_file(tmp_path, fmt):
    """A failure after some batches: previous file intact, no temporary file left."""
    first = materializer(tmp_path, format=fmt, row_group_rows=1)([batch([7, 8])])
    before = (tmp_path / os.path.basename(first.path)).read_bytes()
    with pytest.raises(RuntimeError, match="producer died"):
        materializer(tmp_path, format=fmt, row_group_rows=1)(failing_after(3))
    assert listing(tmp_path) == [os.path.basename(first.path)]
    assert (tmp_path / os.path.basename(first.path)).read_bytes() == before
    assert first.to_table().column("id").to_pylist() == [7, 8]


def test_failure_leaves_no_target(tmp_path):
    with pytest.raises(RuntimeError):
        materializer(tmp_path / "out", row_group_rows=1)(failing_after(5))
    assert listing(tmp_path / "out") == []


def test_bad_row_midway_leaves_nothing(tmp_path):
    """A conversion error in batch 2, after batches 0-1 were written: nothing remains."""
    rows = [{"a": i} for i in range(5)] + [{"a": "oops"}]
    with pytest.raises(ArrowConversionError) as info:
        materializer(tmp_path, batch_rows=2, row_group_rows=1)(iter(rows))
    assert (info.value.batch, info.value.row, info.value.column) == (2, 5, "a")
    assert listing(tmp_path) == []


def test_partitioned_failure_keeps_old(tmp_path):
    rows = [{"k": "x", "v": 1}]
    materializer(tmp_path, "parts", partition_by="k")(rows)

    def broken() -> Iterator[Any]:
        yield {"k": "y", "v": 2}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        materializer(tmp_path, "parts", partition_by="k", batch_rows=1)(broken())
    assert listing(tmp_path) == ["parts", os.path.join("parts", "k=x"),
                                 os.path.join("parts", "k=x", "part-0.parquet")]


def test_async_cancel_cleans_up(tmp_path):
    """Cancelling an async materialization stops its writer thread and removes the temp."""
    async def endless() -> AsyncIterator[Any]:
        i = 0
        while True:
            yield batch([i])
            i += 1
            await asyncio.sleep(0.001)

    async def main() -> None:
        write = arrow_materializer(tmp_path, row_group_rows=1)(ctx(is_async=True))
        task = asyncio.create_task(write(endless()))
        await asyncio.sleep(0.2)
        assert listing(tmp_path)  # the temporary file is being written
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(200):  # the thread stops at its next chunk; keep the loop running
            if not listing(tmp_path):
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert listing(tmp_path) == []


# -- bad input ----------------------------------------------------------------------------------
BAD_INPUTS = {
    "ragged_missing_key": ([{"a": 1, "b": 2}, {"a": 3}], 0, 1, "b"),
    "ragged_extra_key": ([{"a": 1}, {"a": 2}, {"a": 3, "z": 0}], 1, 2, "z"),
    "ragged_tuple": ([(1, 2), (3, 4), (5,)], 1, 2, "f1"),
    "mixed_types_in_column": ([{"a": 1}, {"a": 2}, {"a": "three"}], 1, 2, "a"),
    "mixed_within_batch": ([{"a": 1.5}, {"a": "x"}, {"a": 3.5}], 0, 1, "a"),
    "not_a_row": ([{"a": 1}, {"a": 2}, 42], 1, 2, None),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_rows_located(name):
    """Each kind of bad row names the step, its batch, its row and its column."""
    rows, batch_index, row, column = BAD_INPUTS[name]
    batch_rows = 2 if name != "mixed_within_batch" else 10
    with pytest.raises(ArrowConversionError) as info:
        materializer(step_name="load", batch_rows=batch_rows)(rows)
    error = info.value
    assert (error.step_name, error.batch, error.row, error.column) == \
        ("load", batch_index if batch_rows == 2 else 0, row, column)
    assert isinstance(error, ValueError) and str(error).startswith("Step 'load':")


def test_schema_drift_between_batches():
    """A batch whose columns or types differ from the first one is refused."""
    drifted = pa.record_batch({"id": pa.array(["1"]), "name": ["n"]})
    with pytest.raises(ArrowConversionError, match="schema drift") as info:
        materializer()([batch([0]), batch([1]), drifted])
    assert (info.value.batch, info.value.row, info.value.column) == (2, None, "id")
    renamed = pa.record_batch({"id": pa.array([1]), "label": ["n"]})
    with pytest.raises(ArrowConversionError, match="schema drift") as info:
        materializer()([batch([0]), renamed])
    assert (info.value.batch, info.value.column) == (1, "label")


def test_declared_schema_violations():
    """A value the declared type cannot hold, or a null in a non-nullable column."""
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False)])
    with pytest.raises(ArrowConversionError) as info:
        materializer(schema=schema, batch_rows=2)([{"id": 1}, {"id": 2}, {"id": None}])
    assert (info.value.batch, info.value.row, info.value.column) == (1, 2, "id")
    strings = pa.record_batch({"id": pa.array(["1", "2", "x"])})
    with pytest.raises(ArrowConversionError, match="cannot cast") as info:
        materializer(schema=schema)([strings])
    assert (info.value.batch, info.value.row, info.value.column) == (0, 2, "id")


def test_error_survives_pickle():
    error = ArrowConversionError("bad", step_name="s", row=3, batch=1, column="c")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.step_name, copy.row, copy.batch, copy.column) == ("s", 3, 1, "c")
    assert str(copy) == str(error)


def test_unconvertible_value():
    with pytest.raises(ArrowConversionError, match="'int'") as info:
        materializer(step_name="scalar")(5)
    assert info.value.step_name == "scalar" and info.value.row is None


# -- build time ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, words", [
    ({"format": "csv"}, ValueError, "format"),
    ({"batch_rows": 0}, ValueError, "batch_rows"),
    ({"row_group_rows": True}, ValueError, "row_group_rows"),
    ({"partition_by": "k"}, ValueError, "needs a path"),
    ({"schema": 5}, TypeError, "schema"),
    ({"filesystem": "local"}, TypeError, "filesystem"),
])
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        arrow_materializer(**kwargs)


def test_partition_column_not_in_schema(tmp_path):
    with pytest.raises(ValueError, match="'k'"):
        arrow_materializer(tmp_path, partition_by="k", schema=pa.schema([("v", pa.int8())]))


def test_file_name_escape_refused(tmp_path):
    with pytest.raises(PipelineDefinitionError, match="path separator"):
        arrow_materializer(tmp_path, file_name="../x.parquet")(ctx())


def test_build_does_no_io(tmp_path):
    writer = materializer(tmp_path / "later")
    assert not (tmp_path / "later").exists()
    writer(ROWS)
    assert (tmp_path / "later" / "rows.parquet").exists()


def test_names_and_kinds():
    """Factory (has ctx) resolves to ``arrow_materializer``, async in async pipelines."""
    factory = arrow_materializer()
    assert factory.__name__ == "arrow_materializer" and is_factory(factory)
    sync, async_ = factory(ctx()), factory(ctx(is_async=True))
    assert sync.__name__ == async_.__name__ == "arrow_materializer"
    assert not is_factory(sync) and not is_async_callable(sync)
    assert isinstance(async_, AsyncArrowMaterializer) and is_async_callable(async_)


def test_ref_round_trip(tmp_path):
    """``__synaflow_ref__`` rebuilds the same materializer (schema included)."""
    schema = pa.schema([("id", pa.int64()), ("k", pa.string())])
    original = arrow_materializer(tmp_path, format="ipc", schema=schema, partition_by="k",
                                  batch_rows=7, durable=False)(ctx("events", True))
    spec = json.loads(json.dumps(callable_ref(original)))
    loaded = load_ref(spec)
    assert type(loaded) is AsyncArrowMaterializer
    assert (loaded.step_name, loaded.path, loaded.format, loaded.schema, loaded.partition_by,
            loaded.batch_rows, loaded.durable) == \
        ("events", str(tmp_path), "ipc", schema, ("k",), 7, False)


def test_custom_filesystem_has_no_ref(tmp_path):
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    assert callable_ref(materializer("x", filesystem=fs)) is None


# -- shapes -------------------------------------------------------------------------------------
def test_shape_arrow_table_value():
    table = pa.table({"a": [1, 2, 3]})
    assert shape_arrow(table, pa.Table) is table
    assert shape_arrow(table, Optional[pa.Table]) is table
    assert shape_arrow(table, list[dict]) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert shape_arrow(table, tuple[dict, ...]) == ({"a": 1}, {"a": 2}, {"a": 3})
    assert shape_arrow(table, dict[str, list]) == {"a": [1, 2, 3]}
    assert list(shape_arrow(table, Iterator[dict])) == [{"a": 1}, {"a": 2}, {"a": 3}]
    batches = shape_arrow(table, Iterator[pa.RecordBatch], batch_rows=2)
    assert isinstance(batches, Iterator) and [b.num_rows for b in batches] == [2, 1]
    assert [b.num_rows for b in shape_arrow(table, list[pa.RecordBatch])] == [3]
    assert shape_arrow(table, pa.RecordBatchReader).read_all().equals(table)
    assert shape_arrow(table, Any) is table and shape_arrow(table, int) is table
    assert shape_arrow(None, pa.Table) is None and shape_arrow([1], pa.Table) == [1]


def test_shape_arrow_ref_value(tmp_path):
    ref = materializer(tmp_path, batch_rows=4)(ROWS)
    assert shape_arrow(ref, ArrowDatasetRef) is ref
    assert shape_arrow(ref, pa.Table).to_pylist() == ROWS
    assert shape_arrow(ref, list[dict]) == ROWS
    assert [b.num_rows for b in shape_arrow(ref, Iterator[pa.RecordBatch], batch_rows=4)] \
        == [4, 4, 2]
    import pyarrow.dataset as ds

    assert shape_arrow(ref, ds.Dataset).count_rows() == 10


def test_shape_arrow_async_iterators():
    table = pa.table({"a": [1, 2, 3]})

    async def drain(it: Any) -> list:
        return [x async for x in it]

    rows = asyncio.run(drain(shape_arrow(table, AsyncIterator[dict])))
    batches = asyncio.run(drain(shape_arrow(table, AsyncIterator[pa.RecordBatch])))
    assert rows == [{"a": 1}, {"a": 2}, {"a": 3}] and batches[0].num_rows == 3


def test_delivers_arrow():
    delivered = [pa.Table, list[dict], Iterator[pa.RecordBatch], AsyncIterator[dict],
                 dict, ArrowDatasetRef, pa.RecordBatchReader, Optional[pa.Table]]
    refused = [int, str, None, Any, list[int], Iterator[str], pa.RecordBatch]
    assert all(delivers_arrow(t) for t in delivered)
    assert not any(delivers_arrow(t) for t in refused)


# -- in a pipeline ------------------------------------------------------------------------------
class Params(NamedTuple):
    n: int


def events(n: int) -> Iterator[pa.RecordBatch]:
    for i in range(n):
        yield batch([2 * i, 2 * i + 1])


def as_table(events: pa.Table) -> tuple:
    return type(events).__name__, events.num_rows


def as_batches(events: Iterator[pa.RecordBatch]) -> list:
    return [(type(b).__name__, b.num_rows) for b in events]


def as_rows(events: list[dict]) -> list:
    return events


def as_row_stream(events: Iterator[dict]) -> list:
    return [row["id"] for row in events]


def build_sync(path: Any, **kwargs: Any) -> Any:
    return pipeline(name="arrow_sync", params=Params, steps=[
        step("events", fn=events, materializer=arrow_materializer(path, batch_rows=3,
                                                                   **kwargs)),
        step("as_table", fn=as_table), step("as_batches", fn=as_batches),
        step("as_rows", fn=as_rows), step("as_row_stream", fn=as_row_stream)])


EXPECTED_ROWS = [{"id": i, "name": f"n{i}"} for i in range(6)]


@pytest.mark.parametrize("persist", [False, True])
def test_sync_pipeline_shapes(tmp_path, persist):
    """Every consumer gets its declared shape from one Arrow materialization."""
    built = build_sync(tmp_path if persist else None)
    contracts = {c.consumer_name: c.consumption
                 for c in built.dag.steps["events"].consumer_contracts}
    assert contracts["as_table"] == "materialized" and contracts["as_batches"] == "stream"
    result = run(built, Params(3))
    assert result.ok, result
    assert result.outputs["as_table"] == ("Table", 6)
    kinds, sizes = zip(*result.outputs["as_batches"])
    assert set(kinds) == {"RecordBatch"} and sum(sizes) == 6 and max(sizes) <= 3
    assert result.outputs["as_rows"] == EXPECTED_ROWS
    assert result.outputs["as_row_stream"] == list(range(6))
    assert listing(tmp_path) == (["events.parquet"] if persist else [])


def table_value(n: int) -> pa.Table:
    return pa.table({"id": list(range(n))})


def value_batches(table_value: Iterator[pa.RecordBatch]) -> list:
    return [b.num_rows for b in table_value]


def value_rows(table_value: list[dict]) -> int:
    return len(table_value)


def test_value_producer_shapes():
    """A step returning a Table feeds stream and row consumers through the materializer."""
    built = pipeline(name="arrow_value", params=Params, steps=[
        step("table_value", fn=table_value, materializer=arrow_materializer(batch_rows=4)),
        step("value_batches", fn=value_batches), step("value_rows", fn=value_rows)])
    result = run(built, Params(10))
    assert result.outputs == {"value_batches": [4, 4, 2], "value_rows": 10}


def test_named_materializer_is_applied(tmp_path):
    """A materializer named on the step is applied even with a lone stream consumer: the
    file is written and the consumer reads the stored table's batches (issue 23, item 2;
    it used to stream past it and write nothing)."""
    built = pipeline(name="arrow_named", params=Params, steps=[
        step("events", fn=events, materializer=arrow_materializer(tmp_path)),
        step("as_batches", fn=as_batches)])
    assert built.dag.steps["events"].materialize_reasons == ("step_materializer",)
    assert run(built, Params(2)).outputs["as_batches"] == [("RecordBatch", 4)]
    assert listing(tmp_path) == ["events.parquet"]


def test_plain_stream_stays_lazy():
    """Without a named materializer a lone stream consumer streams, item by item."""
    built = pipeline(name="arrow_lazy", params=Params, steps=[
        step("events", fn=events), step("as_batches", fn=as_batches)])
    assert not built.dag.steps["events"].materialize_output


def bad_rows(n: int) -> Iterator[dict]:
    yield from ({"id": i} for i in range(n))
    yield {"id": "bad"}


def count_rows(bad_rows: pa.Table) -> int:
    return bad_rows.num_rows


def test_pipeline_conversion_failure(tmp_path):
    """A bad row fails the producing step; its consumer is skipped; no file remains."""
    built = pipeline(name="arrow_bad", params=Params, steps=[
        step("bad_rows", fn=bad_rows, materializer=arrow_materializer(tmp_path)),
        step("count_rows", fn=count_rows)])
    result = run(built, Params(3))
    assert result.steps["bad_rows"].status == "error"
    assert result.steps["count_rows"].status == "skipped"
    assert listing(tmp_path) == []


async def async_events(n: int) -> AsyncIterator[dict]:
    for i in range(n):
        yield {"id": i, "name": f"n{i}"}


async def async_table(async_events: pa.Table) -> int:
    return async_events.num_rows


async def async_batches(async_events: AsyncIterator[pa.RecordBatch]) -> list:
    return [b.num_rows async for b in async_events]


async def async_rows(async_events: list[dict]) -> list:
    return async_events


@pytest.mark.parametrize("persist", [False, True])
def test_async_pipeline_shapes(tmp_path, persist):
    built = pipeline(name="arrow_async", params=Params, steps=[
        step("async_events", fn=async_events,
             materializer=arrow_materializer(tmp_path if persist else None, batch_rows=4)),
        step("async_table", fn=async_table), step("async_batches", fn=async_batches),
        step("async_rows", fn=async_rows)])
    result = asyncio.run(async_run(built, Params(6)))
    assert result.outputs == {"async_table": 6, "async_batches": [4, 2],
                              "async_rows": EXPECTED_ROWS}
    assert listing(tmp_path) == (["async_events.parquet"] if persist else [])


def test_contract_round_trip(tmp_path):
    """Dag.from_dict(dag.to_dict()) keeps the materializer, and the loaded Dag runs."""
    dag = build_sync(tmp_path, schema=pa.schema([("id", pa.int64()),
                                                  ("name", pa.string())])).dag
    loaded = Dag.from_dict(json.loads(json.dumps(dag.to_dict())))
    node = loaded.steps["events"]
    assert isinstance(node.materializer, ArrowMaterializer)
    assert node.materializer.__name__ == "arrow_materializer"
    assert callable_ref(node.materializer) == callable_ref(dag.steps["events"].materializer)
    assert loaded.steps["events"].consumer_contracts == dag.steps["events"].consumer_contracts
    result = run(loaded, Params(2))
    assert result.outputs["as_table"] == ("Table", 4)
    assert result.outputs["as_rows"] == EXPECTED_ROWS[:4]


# -- bounded memory -----------------------------------------------------------------------------
BATCH_ROWS = 65536  # 2 float64 columns: 1 MiB per batch
BATCHES = 48
SAMPLES: list[int] = []


def arrow_batch() -> Any:
    """1 MiB allocated by Arrow (numpy-backed arrays would not show in its pool).

    Few distinct values: Parquet's dictionary encoder is fast on them, so the test is too.
    """
    return pa.record_batch({name: pc.floor(pc.multiply(pc.random(BATCH_ROWS), 8))
                            for name in ("x", "y")})


async def big_stream(n: int) -> AsyncIterator[pa.RecordBatch]:
    for _ in range(n):
        SAMPLES.append(pa.total_allocated_bytes())
        yield arrow_batch()


async def big_count(big_stream: pa.Table) -> int:
    return big_stream.num_rows


def run_big(path: Any, fmt: str = "parquet") -> int:
    SAMPLES.clear()
    built = pipeline(name="arrow_big", params=Params, steps=[
        step("big_stream", fn=big_stream, materializer=arrow_materializer(
            path, format=fmt, row_group_rows=4 * BATCH_ROWS, durable=False)),
        step("big_count", fn=big_count)])
    result = asyncio.run(async_run(built, Params(BATCHES)))
    assert result.outputs["big_count"] == BATCHES * BATCH_ROWS
    return max(SAMPLES) - SAMPLES[0]


@pytest.mark.parametrize("fmt", ["parquet", "ipc"])
def test_streaming_write_bounded(tmp_path, fmt):
    """Arrow memory seen by the producer stays a few batches, not the 48 MiB output.

    The in-memory run is the control: there the same probe sees the output grow.
    """
    total = BATCHES * 2**20
    assert run_big(None) > total // 2
    assert run_big(tmp_path, fmt) < total // 6


def test_sync_iterator_write_bounded(tmp_path):
    """Called directly with a generator, the sync materializer is bounded too."""
    peak = []

    def batches() -> Iterator[Any]:
        for _ in range(BATCHES):
            peak.append(pa.total_allocated_bytes())
            yield arrow_batch()

    materializer(tmp_path, row_group_rows=BATCH_ROWS, durable=False)(batches())
    assert max(peak) - peak[0] < BATCHES * 2**20 // 6


# -- packaging ----------------------------------------------------------------------------------
def python(code: str) -> subprocess.CompletedProcess:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=root,
                          capture_output=True, text=True, timeout=120)


def test_core_imports_skip_pyarrow():
    done = python("""
        import sys, synaflow, synaflow.materializers
        from synaflow.materializers import disk_materializer
        assert "pyarrow" not in sys.modules, "pyarrow was imported"
    """)
    assert done.returncode == 0, done.stderr


def test_missing_pyarrow_message():
    done = python("""
        import sys
        sys.modules["pyarrow"] = None  # what an environment without pyarrow looks like
        try:
            import synaflow.materializers.arrow
        except ImportError as exc:
            print(exc)
    """)
    assert 'pip install "synaflow[arrow]"' in done.stdout, done.stderr


class Batches(NamedTuple):
    count: int


def test_sync_pipeline_streams_into_the_materializer(tmp_path):
    """A synchronous pipeline hands the Arrow materializer the stream itself: while
    50 batches of 1 MiB are written, Arrow never holds more than a few of them."""
    held: list[int] = []

    def batches(count: int) -> Iterator[pa.RecordBatch]:
        for i in range(count):
            held.append(pa.total_allocated_bytes())
            yield pa.record_batch({"i": pa.array(range(i << 17, (i + 1) << 17), pa.int64())})

    def rows(batches: pa.Table) -> int:  # a Table reader: the output is materialized
        return batches.num_rows

    p = pipeline(name="big", params=Batches, steps=[
        step("batches", fn=batches,
             materializer=arrow_materializer(tmp_path, row_group_rows=1 << 17)),
        step("rows", fn=rows)])
    base = pa.total_allocated_bytes()
    result = run(p, Batches(50))
    assert result.outputs["rows"] == 50 << 17
    (written,) = tmp_path.glob("*.parquet")
    assert pq.read_metadata(written).num_rows == 50 << 17
    assert len(held) == 50
    assert max(held) - base < 8 << 20, f"{(max(held) - base) >> 20} MiB held at once"
