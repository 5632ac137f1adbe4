"""Arrow materializer: collect a step's output into Arrow, optionally persisted as Parquet/IPC.

Needs the ``arrow`` extra (``pip install "synaflow[arrow]"``); nothing else in
SynaFlow imports pyarrow.

    >>> from synaflow.materializers.arrow import arrow_materializer
    >>> from synaflow.core.types import MaterializeContext
    >>> collect = arrow_materializer()(MaterializeContext("etl", "rows", None))
    >>> collect.__name__, collect([{"a": 1}, {"a": 2}]).num_rows
    ('arrow_materializer', 2)

What goes in: a ``pyarrow.Table``, ``RecordBatch``es, or rows (dicts, dataclass
instances, named tuples, tuples) in any iterable, converted ``batch_rows`` rows
at a time with the declared ``schema`` or the one inferred from the first batch.
Bad input raises :class:`ArrowConversionError` naming the step, batch, row and
column.

What comes out: without ``path`` a ``pyarrow.Table``. With ``path`` (a local
folder, a ``file://``/``s3://``/``gs://`` URI, or a path in ``filesystem``) the
batches are written one by one to ``<path>/<step>.parquet`` (``.arrow`` for
``format="ipc"``), or to a hive-partitioned folder ``<path>/<step>/`` with
``partition_by``, atomically, and the result is an :class:`ArrowDatasetRef`
that reads back lazily. Memory stays bounded by about one batch while writing
when the output arrives as a stream (async pipelines hand the materializer the
stream itself; the sync engine collects it into a list first, spec 06 §3).

Each consumer gets the result in the shape it declares (:func:`shape_arrow`):
``pa.Table``, ``Iterator[pa.RecordBatch]``, ``list[dict]``, ``Iterator[dict]``,
``dict`` (columns), ``pa.RecordBatchReader``, ``pyarrow.dataset.Dataset``,
``ArrowDatasetRef``. The builder learns which types these are from
``__synaflow_delivers__`` and the engine converts through ``__synaflow_reshape__``.
"""
from __future__ import annotations

try:
    import pyarrow as pa
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('synaflow.materializers.arrow needs pyarrow: pip install '
                      '"synaflow[arrow]"') from exc

import base64
import collections.abc as cabc
import os
import typing
from typing import Any, Callable, Iterable, Iterator

import pyarrow.fs as pafs

from synaflow.core.protocols import implements
from synaflow.core.types import MaterializeContext

from ._arrow_convert import ARROW_ITEMS, ArrowConversionError, Converter, items_of
from ._arrow_io import EXTENSIONS, ArrowDatasetRef, Location, write_file, write_partitioned
from .disk import check_file_name

__all__ = ["arrow_materializer", "ArrowMaterializerFactory", "ArrowMaterializer",
           "AsyncArrowMaterializer", "ArrowDatasetRef", "ArrowConversionError",
           "shape_arrow", "delivers_arrow"]


# pyarrow's own default row group size (rows).
ROW_GROUP_ROWS = 1024 * 1024


# -- settings shared by the factory and the materializers -------------------------------------
def _check_schema(schema: Any) -> pa.Schema | None:
    if schema is None or isinstance(schema, pa.Schema):
        return schema
    try:
        return pa.schema(schema)  # a mapping name -> type, or a list of fields/pairs
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise TypeError(f"arrow_materializer: schema must be a pyarrow.Schema (or what "
                        f"pyarrow.schema() accepts), got {schema!r}") from exc


def _check_partition_by(partition_by: Any, path: Any, schema: pa.Schema | None) -> tuple:
    if partition_by is None or partition_by == ():
        return ()
    columns = (partition_by,) if isinstance(partition_by, str) else tuple(partition_by)
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise TypeError(f"arrow_materializer: partition_by must be a column name or a list "
                        f"of column names, got {partition_by!r}")
    if path is None:
        raise ValueError("arrow_materializer: partition_by needs a path to write the "
                         "partitioned folder to; pass path=")
    missing = [c for c in columns if schema is not None and c not in schema.names]
    if missing:
        raise ValueError(f"arrow_materializer: partition column '{missing[0]}' is not in the "
                         f"declared schema {schema.names}")
    return columns


class _ArrowSettings:
    """Validated arguments of ``arrow_materializer`` (checked when it is called)."""

    def __init__(self, path: str | os.PathLike | None = None, *, format: str = "parquet",
                 schema: Any = None, partition_by: Any = None, batch_rows: int = 65536,
                 filesystem: Any = None, file_name: str | None = None,
                 row_group_rows: int = ROW_GROUP_ROWS, durable: bool = True) -> None:
        if format not in EXTENSIONS:
            raise ValueError(f"arrow_materializer: format must be 'parquet' or 'ipc', "
                             f"got {format!r}")
        for name, value in (("batch_rows", batch_rows), ("row_group_rows", row_group_rows)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"arrow_materializer: {name} must be a positive int, "
                                 f"got {value!r}")
        if filesystem is not None and not isinstance(filesystem, pafs.FileSystem):
            raise TypeError("arrow_materializer: filesystem must be a pyarrow.fs.FileSystem")
        if filesystem is not None and (path is None or "://" in os.fspath(path)):
            raise ValueError("arrow_materializer: with filesystem=, path must be a plain "
                             "path inside that filesystem (not None, not a URI)")
        self.path = None if path is None else os.fspath(path)
        self.format = format
        self.schema = _check_schema(schema)
        self.partition_by = _check_partition_by(partition_by, path, self.schema)
        self.batch_rows = batch_rows
        self.row_group_rows = row_group_rows
        self.durable = bool(durable)
        self.filesystem = filesystem
        self.file_name = file_name

    def _target_name(self, step: str) -> str:
        """``file_name``, else ``<step>.parquet``/``<step>.arrow``, or ``<step>`` (a folder)."""
        if self.file_name:
            return self.file_name
        return step if self.partition_by else f"{step}.{EXTENSIONS[self.format]}"

    def _settings(self) -> dict[str, Any]:
        return dict(format=self.format, schema=self.schema, partition_by=self.partition_by,
                    batch_rows=self.batch_rows, filesystem=self.filesystem,
                    file_name=self.file_name, row_group_rows=self.row_group_rows,
                    durable=self.durable)

    @staticmethod
    def __synaflow_delivers__(declared_type: Any) -> bool:
        """Build-time hook: can this materializer's result feed ``declared_type``?"""
        return delivers_arrow(declared_type)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(path={self.path!r}, format={self.format!r}, "
                f"partition_by={list(self.partition_by)}, batch_rows={self.batch_rows})")


class ArrowMaterializerFactory(_ArrowSettings):
    """Returned by :func:`arrow_materializer`; resolves per step at build time."""

    __name__ = "arrow_materializer"

    def __call__(self, ctx: MaterializeContext) -> "ArrowMaterializer":
        if self.path is not None:
            check_file_name(self._target_name(ctx.dataset_name), folder=self.path,  # type: ignore
                            who="arrow_materializer", pipeline=ctx.pipeline_name,
                            step=ctx.dataset_name, explicit=bool(self.file_name))
        kind = AsyncArrowMaterializer if ctx.is_async_pipeline else ArrowMaterializer
        return kind(ctx.dataset_name, self.path, **self._settings())


def arrow_materializer(path: str | os.PathLike | None = None, *, format: str = "parquet",
                       schema: Any = None, partition_by: str | list[str] | None = None,
                       batch_rows: int = 65536, filesystem: Any = None,
                       file_name: str | None = None,
                       row_group_rows: int = ROW_GROUP_ROWS,
                       durable: bool = True) -> ArrowMaterializerFactory:
    """Materialize a step's output as Arrow; persist it under ``path`` when given.

    ``format``: ``"parquet"`` or ``"ipc"`` (Arrow IPC file). ``schema``: declared
    schema (batches are cast to it); inferred from the first batch otherwise.
    ``partition_by``: hive-partition the output folder by these columns.
    ``batch_rows``: rows per converted batch. ``filesystem``: a
    ``pyarrow.fs.FileSystem`` that ``path`` lives in (instead of a URI).
    ``file_name``: overrides ``<step>.parquet``/``<step>.arrow``/``<step>``.
    ``row_group_rows``: Parquet row group size (pyarrow's default); batches wait
    until they fill one, so memory while writing Parquet is bounded by a row group.
    ``durable``: fsync local files before the atomic rename (``False`` is faster
    and still atomic for readers, but a machine crash may lose the new file).
    """
    return ArrowMaterializerFactory(path, format=format, schema=schema,
                                    partition_by=partition_by, batch_rows=batch_rows,
                                    filesystem=filesystem, file_name=file_name,
                                    row_group_rows=row_group_rows, durable=durable)


# -- the materializers -----------------------------------------------------------------------
class ArrowMaterializer(_ArrowSettings):
    """The resolved sync materializer (``__name__ == "arrow_materializer"``)."""

    __name__ = "arrow_materializer"

    def __init__(self, step_name: str, path: str | os.PathLike | None = None,
                 **settings: Any) -> None:
        super().__init__(path, **settings)
        self.step_name = step_name
        if self.path is not None:
            # Also checked here because a materializer can be rebuilt from (edited) JSON.
            check_file_name(self._target_name(step_name), folder=self.path,  # type: ignore
                            who="arrow_materializer")

    # The synchronous runners hand this materializer the stream itself, not a list.
    __synaflow_streams__ = True

    def __call__(self, value: Any) -> pa.Table | ArrowDatasetRef:
        return self.materialize(items_of(value, self.step_name))

    def materialize(self, items: Iterable[Any]) -> pa.Table | ArrowDatasetRef:
        """Convert ``items`` batch by batch; keep them in memory or write them out."""
        converter = Converter(self.step_name, self.schema, self.batch_rows)
        batches = converter.batches(items)
        if self.path is None:
            collected = list(batches)
            return pa.Table.from_batches(collected, schema=converter.schema or pa.schema([]))
        target = Location.resolve(self.path, self._target_name(self.step_name),
                                  self.filesystem)
        if self.partition_by:
            rows = write_partitioned(batches, target, fmt=self.format,
                                     partition_by=self.partition_by,
                                     fallback_schema=lambda: converter.schema,
                                     missing_column=self._missing_partition(converter),
                                     row_group_rows=self.row_group_rows,
                                     durable=self.durable)
        else:
            rows = write_file(batches, target, fmt=self.format,
                              fallback_schema=lambda: converter.schema,
                              row_group_rows=self.row_group_rows, durable=self.durable)
        return ArrowDatasetRef(target.path, format=self.format, filesystem=target.fs,
                               partition_by=self.partition_by, schema=converter.schema,
                               num_rows=rows, batch_rows=self.batch_rows)

    @staticmethod
    def _missing_partition(converter: Converter) -> Callable[[str, list], Exception]:
        def error(column: str, names: list) -> Exception:
            return converter.error(f"partition column is not in the output's columns {names}",
                                   column=column)
        return error

    def __synaflow_reshape__(self, value: Any, shape: str, declared_type: Any) -> Any:
        """Run-time hook: the engine asks for ``value`` as one consumer declares it."""
        return shape_arrow(value, declared_type, shape=shape, batch_rows=self.batch_rows)

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        """JSON spec; ``None`` with a custom filesystem object (use a URI path instead)."""
        if self.filesystem is not None and not isinstance(self.filesystem,
                                                          pafs.LocalFileSystem):
            return None
        schema = None if self.schema is None else \
            base64.b64encode(self.schema.serialize().to_pybytes()).decode("ascii")
        return {"ref": f"{__name__}:{type(self).__qualname__}.from_ref",
                "kwargs": {"step_name": self.step_name, "path": self.path,
                           "format": self.format, "schema_ipc": schema,
                           "partition_by": list(self.partition_by),
                           "batch_rows": self.batch_rows, "file_name": self.file_name,
                           "row_group_rows": self.row_group_rows,
                           "durable": self.durable}}

    @classmethod
    def from_ref(cls, *, schema_ipc: str | None = None, partition_by: Any = None,
                 **kwargs: Any) -> "ArrowMaterializer":
        """Rebuild from the kwargs written by ``__synaflow_ref__``."""
        schema = None if schema_ipc is None else \
            pa.ipc.read_schema(pa.py_buffer(base64.b64decode(schema_ipc)))
        return cls(schema=schema, partition_by=partition_by or None, **kwargs)


class AsyncArrowMaterializer(ArrowMaterializer):
    """``arrow_materializer`` for async pipelines: reads the async stream chunk by chunk.

    Conversion and writing run in a dedicated thread, which pulls items from the
    event loop one chunk (up to ``batch_rows`` rows, or one Arrow batch) at a time,
    so the loop stays free and at most one chunk waits in memory.
    """

    async def __call__(self, value: Any) -> pa.Table | ArrowDatasetRef:  # type: ignore
        import asyncio

        from ._arrow_async import LoopPull, run_in_thread

        if implements(value, "__aiter__"):
            pull = LoopPull(value, asyncio.get_running_loop(), self.batch_rows, ARROW_ITEMS)
            return await run_in_thread(lambda: self.materialize(pull.items()),
                                       name=f"synaflow-arrow-{self.step_name}",
                                       on_cancel=pull.cancel)
        return await run_in_thread(lambda: self.materialize(items_of(value, self.step_name)),
                                   name=f"synaflow-arrow-{self.step_name}")


# -- per-consumer shapes --------------------------------------------------------------------
_SYNC_STREAMS = frozenset({cabc.Iterator, cabc.Iterable, cabc.Generator})
_ASYNC_STREAMS = frozenset({cabc.AsyncIterator, cabc.AsyncIterable, cabc.AsyncGenerator})
_SEQUENCES = frozenset({list, cabc.Sequence, cabc.MutableSequence, cabc.Collection})
_MAPPINGS = frozenset({dict, cabc.Mapping, cabc.MutableMapping})
# What a consumer without a usable annotation gets, by ConsumerContract.shape.
_BY_SHAPE = {"list": "row_list", "tuple": "row_tuple", "dict": "columns",
             "iter": "batch_iter", "aiter": "batch_aiter"}


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``Optional[X]`` read as ``X``."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType":
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _is_row_type(tp: Any) -> bool:
    tp = _unwrap(tp)
    if tp is None or tp is Any or tp is object or typing.is_typeddict(tp):
        return True
    return (typing.get_origin(tp) or tp) in _MAPPINGS


def _item_kind(tp: Any) -> str | None:
    """``batch`` or ``row`` for the item type of a container annotation."""
    args = typing.get_args(tp)
    item = _unwrap(args[0]) if args else None
    if item is pa.RecordBatch:
        return "batch"
    return "row" if _is_row_type(item) else None


def _is_dataset_type(tp: Any) -> bool:
    if not isinstance(tp, type) or not tp.__module__.startswith("pyarrow._dataset"):
        return False
    import pyarrow.dataset as ds

    return issubclass(tp, ds.Dataset)


def _container_conversion(tp: Any) -> str | None:
    origin = typing.get_origin(tp) or tp
    if origin in _MAPPINGS:
        return "columns"
    kind = _item_kind(tp)
    if kind is None:
        return None
    for family, suffix in ((_SYNC_STREAMS, "iter"), (_ASYNC_STREAMS, "aiter"),
                           (_SEQUENCES, "list"), ({tuple}, "tuple")):
        if origin in family:
            return f"{kind}_{suffix}"
    return None


def _conversion(declared_type: Any, shape: str | None) -> str | None:
    """How a consumer declaring ``declared_type`` gets the result (``None``: as it is)."""
    tp = _unwrap(declared_type)
    if shape == "items":  # an EACH consumer: one item at a time
        return "batch_iter" if tp is pa.RecordBatch else "row_iter"
    if tp is None or tp is Any:
        return _BY_SHAPE.get(shape or "")
    simple = {pa.Table: "table", pa.RecordBatchReader: "reader", ArrowDatasetRef: "ref"}
    if isinstance(tp, type) and tp in simple:
        return simple[tp]
    if _is_dataset_type(tp):
        return "dataset"
    return _container_conversion(tp)


def delivers_arrow(declared_type: Any) -> bool:
    """True if :func:`shape_arrow` can turn an Arrow result into ``declared_type``.

    >>> delivers_arrow(pa.Table), delivers_arrow(list[dict]), delivers_arrow(int)
    (True, True, False)
    """
    return _conversion(declared_type, None) is not None


def _table(value: Any, size: int) -> pa.Table:
    return value if isinstance(value, pa.Table) else value.to_table()


def _batches(value: Any, size: int) -> Iterator[pa.RecordBatch]:
    if isinstance(value, pa.Table):
        return iter(value.to_batches(max_chunksize=size))
    return value.to_batches(size)


def _rows(value: Any, size: int) -> Iterator[dict[str, Any]]:
    for batch in _batches(value, size):
        yield from batch.to_pylist()


async def _aiter_over(items: Iterator[Any]) -> cabc.AsyncIterator[Any]:
    for item in items:
        yield item


def _reader(value: Any, size: int) -> pa.RecordBatchReader:
    schema = value.schema if value.schema is not None else pa.schema([])
    return pa.RecordBatchReader.from_batches(schema, _batches(value, size))


def _dataset(value: Any, size: int) -> Any:
    if isinstance(value, pa.Table):
        import pyarrow.dataset as ds

        return ds.dataset(value)
    return value.to_dataset()


_CONVERT: dict[str, Callable[[Any, int], Any]] = {
    "table": _table, "ref": lambda v, n: v, "reader": _reader, "dataset": _dataset,
    "batch_iter": _batches, "row_iter": _rows,
    "batch_aiter": lambda v, n: _aiter_over(_batches(v, n)),
    "row_aiter": lambda v, n: _aiter_over(_rows(v, n)),
    "batch_list": lambda v, n: list(_batches(v, n)),
    "batch_tuple": lambda v, n: tuple(_batches(v, n)),
    "row_list": lambda v, n: _table(v, n).to_pylist(),
    "row_tuple": lambda v, n: tuple(_table(v, n).to_pylist()),
    "columns": lambda v, n: _table(v, n).to_pydict(),
}


def shape_arrow(value: Any, consumer_type: Any, *, shape: str | None = None,
                batch_rows: int = 65536) -> Any:
    """``value`` (a Table or ArrowDatasetRef) in the form ``consumer_type`` declares.

    ``pa.Table`` -> the table; ``Iterator[pa.RecordBatch]`` -> batches of at most
    ``batch_rows`` rows; ``list[dict]`` -> rows; ``Iterator[dict]`` -> rows, one
    batch converted at a time; ``dict`` -> ``{column: values}``; async iterators
    likewise. Anything else (``Any``, unannotated) gets the value as it is, or
    the form ``shape`` (``ConsumerContract.shape``) names.

    >>> table = pa.table({"a": [1, 2, 3]})
    >>> shape_arrow(table, list[dict])
    [{'a': 1}, {'a': 2}, {'a': 3}]
    >>> [b.num_rows for b in shape_arrow(table, Iterator[pa.RecordBatch], batch_rows=2)]
    [2, 1]
    """
    if not isinstance(value, (pa.Table, ArrowDatasetRef)):
        return value
    conversion = _conversion(consumer_type, shape)
    if conversion is None:
        return value
    return _CONVERT[conversion](value, batch_rows)
