"""Arrow output on a filesystem: atomic Parquet/IPC writes and the handle that reads back.

Private helper of ``synaflow.materializers.arrow``; imports pyarrow.

Atomicity follows ``synaflow.materializers.disk``: everything is written under a
temporary name in the target's own folder (``.<name>.<random>.tmp``), then moved
onto the target; on any error the temporary file or folder is removed and a
previous target stays intact. On the local filesystem the data is fsynced
before the rename, and the folder after it (unless ``durable=False``). A partitioned output is a folder:
an existing one is first moved aside, then replaced, then deleted.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

__all__ = ["ArrowDatasetRef", "Location", "write_file", "write_partitioned", "EXTENSIONS"]

EXTENSIONS = {"parquet": "parquet", "ipc": "arrow"}


class Location:
    """A filesystem and a path inside it, resolved at run time (build time does no I/O)."""

    def __init__(self, fs: pafs.FileSystem, path: str) -> None:
        self.fs, self.path = fs, path

    @classmethod
    def resolve(cls, base: str, name: str, filesystem: Any = None) -> "Location":
        """``base`` is a local folder, a ``scheme://`` URI, or a path in ``filesystem``."""
        if filesystem is not None:
            fs, folder = filesystem, base
        elif "://" in base:
            fs, folder = pafs.FileSystem.from_uri(base)
        else:
            fs, folder = pafs.LocalFileSystem(), os.path.abspath(base)
        folder = folder.rstrip("/")
        return cls(fs, f"{folder}/{name}" if folder else name)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def sibling(self, suffix: str) -> str:
        """A hidden, unique name next to the target (same folder, so a rename is atomic)."""
        parent, _, name = self.path.rpartition("/")
        hidden = f".{name}.{secrets.token_hex(6)}.{suffix}"
        return f"{parent}/{hidden}" if parent else hidden


# -- atomic replacement -------------------------------------------------------------------
@contextlib.contextmanager
def _staged(target: Location, durable: bool) -> Iterator[str]:
    """Yield a temporary path; on success it replaces ``target``, on error it is removed.

    ``durable``: on a local disk, fsync the data before the rename (else a crash
    right after it could leave an empty file under the final name) and the folder
    after it.
    """
    parent = target.path.rpartition("/")[0]
    if parent:
        target.fs.create_dir(parent, recursive=True)
    tmp = target.sibling("tmp")
    try:
        yield tmp
        if durable and target.is_local:
            _fsync_tree(tmp)
        _replace(target, tmp)
    except BaseException:
        _remove(target.fs, tmp)
        raise
    if durable and target.is_local and parent:
        _fsync(parent)


def _replace(target: Location, tmp: str) -> None:
    fs = target.fs
    info = fs.get_file_info(target.path)
    tmp_is_file = fs.get_file_info(tmp).type == pafs.FileType.File
    if info.type == pafs.FileType.NotFound or (info.type == pafs.FileType.File and tmp_is_file):
        fs.move(tmp, target.path)  # a rename on local disks: atomic, replaces the old file
        return
    # A folder (or a file being replaced by a folder) cannot be renamed over: swap it.
    aside = target.sibling("old")
    fs.move(target.path, aside)
    try:
        fs.move(tmp, target.path)
    except BaseException:
        fs.move(aside, target.path)
        raise
    _remove(fs, aside)


def _remove(fs: pafs.FileSystem, path: str) -> None:
    with contextlib.suppress(Exception):
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            fs.delete_dir(path)
        elif info.type != pafs.FileType.NotFound:
            fs.delete_file(path)


def _fsync(path: str) -> None:
    """Best effort (Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(path: str) -> None:
    if os.path.isdir(path):
        for folder, _, files in os.walk(path):
            for name in files:
                _fsync(os.path.join(folder, name))
            _fsync(folder)
    else:
        _fsync(path)


# -- writing ----------------------------------------------------------------------------------
class _RowGroups:
    """A ParquetWriter fed batch by batch, writing row groups of ``rows`` rows.

    pyarrow closes a row group on every ``write_batch``; row groups of one 64k-row
    batch write about 3x slower than ``write_table`` (the dictionary encoder starts
    over in each) and make bigger files. So batches wait here (by reference, no
    copy) until they fill a row group: memory is bounded by one row group.
    """

    def __init__(self, writer: Any, rows: int) -> None:
        self.writer, self.rows = writer, rows
        self.pending: list[pa.RecordBatch] = []
        self.count = 0

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.count += batch.num_rows
        if self.count >= self.rows:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            table = pa.Table.from_batches(self.pending, self.pending[0].schema)
            self.pending, self.count = [], 0
            self.writer.write_table(table, row_group_size=self.rows)

    def close(self) -> None:
        self._flush()
        self.writer.close()


def _open_writer(fmt: str, sink: Any, schema: pa.Schema, row_group_rows: int) -> Any:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return _RowGroups(pq.ParquetWriter(sink, schema), row_group_rows)
    return pa.ipc.new_file(sink, schema)


def write_file(batches: Iterable[pa.RecordBatch], target: Location, *, fmt: str,
               fallback_schema: Any, row_group_rows: int, durable: bool = True) -> int:
    """Write ``batches`` one by one into one file; return the row count.

    ``fallback_schema()`` gives the schema when there is no batch at all.
    """
    rows = 0
    with _staged(target, durable) as tmp, target.fs.open_output_stream(tmp) as sink:
        writer = None
        try:
            for batch in batches:
                if writer is None:
                    writer = _open_writer(fmt, sink, batch.schema, row_group_rows)
                writer.write_batch(batch)
                rows += batch.num_rows
            if writer is None:
                writer = _open_writer(fmt, sink, fallback_schema() or pa.schema([]),
                                      row_group_rows)
            writer.close()
        except BaseException:
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            raise
    return rows


def write_partitioned(batches: Iterator[pa.RecordBatch], target: Location, *, fmt: str,
                      partition_by: tuple[str, ...], fallback_schema: Any,
                      missing_column: Any, row_group_rows: int, durable: bool = True) -> int:
    """Write a hive-partitioned folder with ``pyarrow.dataset.write_dataset``.

    ``missing_column(name)`` builds the error raised when a partition column is absent.
    Row groups are filled up to ``row_group_rows`` rows per partition file (so each
    open partition may hold up to that many rows in memory).
    """
    import inspect

    import pyarrow.dataset as ds

    counter = [0]

    def counted(first: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        for batch in itertools.chain((first,), batches):
            counter[0] += batch.num_rows
            yield batch

    with _staged(target, durable) as tmp:
        target.fs.create_dir(tmp, recursive=True)
        first = next(batches, None)
        schema = first.schema if first is not None else fallback_schema()
        for name in partition_by:
            if schema is not None and name not in schema.names:
                raise missing_column(name, schema.names)
        if first is not None:
            options = {"preserve_order": True} if "preserve_order" in \
                inspect.signature(ds.write_dataset).parameters else {}
            ds.write_dataset(counted(first), tmp, schema=schema, format=fmt,
                             partitioning=list(partition_by), partitioning_flavor="hive",
                             filesystem=target.fs, existing_data_behavior="overwrite_or_ignore",
                             min_rows_per_group=row_group_rows,
                             max_rows_per_group=row_group_rows, **options)
    return counter[0]


# -- reading back -----------------------------------------------------------------------------
class ArrowDatasetRef:
    """A handle on persisted Arrow output; reads lazily, so it is cheap to pass around.

        >>> ref = ArrowDatasetRef("/data/rows.parquet", format="parquet")  # doctest: +SKIP
        >>> ref.to_table().num_rows, next(ref.to_batches()).num_rows  # doctest: +SKIP

    ``to_batches()`` streams batch by batch (memory bounded by one batch);
    ``to_table()`` reads everything. It pickles (the filesystem object travels
    with it), so a Ray worker can read the same data.
    """

    def __init__(self, path: str, *, format: str = "parquet", filesystem: Any = None,
                 partition_by: tuple[str, ...] = (), schema: pa.Schema | None = None,
                 num_rows: int | None = None, batch_rows: int = 65536) -> None:
        self.path = path
        self.format = format
        self._filesystem = filesystem
        self.partition_by = tuple(partition_by)
        self.schema = schema
        self.num_rows = num_rows
        self.batch_rows = batch_rows

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._filesystem if self._filesystem is not None else pafs.LocalFileSystem()

    @property
    def uri(self) -> str:
        """``file:///...`` for local data, else ``<filesystem type>://<path>``."""
        fs = self.filesystem
        scheme = "file" if isinstance(fs, pafs.LocalFileSystem) else fs.type_name
        return f"{scheme}://{self.path}"

    @property
    def partitioned(self) -> bool:
        return bool(self.partition_by)

    def __bool__(self) -> bool:  # a handle is a value even when it holds no rows
        return True

    def __len__(self) -> int:
        return self.num_rows if self.num_rows is not None else self.to_dataset().count_rows()

    def __repr__(self) -> str:
        return (f"ArrowDatasetRef({self.path!r}, format={self.format!r}, "
                f"partition_by={list(self.partition_by)}, num_rows={self.num_rows})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrowDatasetRef) and (self.path, self.format,
                                                      self.partition_by) == (
            other.path, other.format, other.partition_by)

    def __hash__(self) -> int:
        return hash((self.path, self.format, self.partition_by))

    def to_dataset(self) -> Any:
        """A ``pyarrow.dataset.Dataset`` over the output (partition columns typed as written)."""
        import pyarrow.dataset as ds

        partitioning = None
        if self.partitioned:
            fields = self.schema and [self.schema.field(c) for c in self.partition_by]
            partitioning = ds.partitioning(pa.schema(fields), flavor="hive") if fields \
                else "hive"
        return ds.dataset(self.path, filesystem=self.filesystem, format=self.format,
                          partitioning=partitioning, schema=self.schema)

    def to_table(self, columns: list[str] | None = None) -> pa.Table:
        """Read the whole output into memory."""
        if self.partitioned:
            return self.to_dataset().to_table(columns=columns)
        if self.format == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(self.path, columns=columns, filesystem=self.filesystem)
        table = self._ipc_reader(self._open()).read_all()
        return table.select(columns) if columns is not None else table

    def to_batches(self, batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
        """Stream the output one RecordBatch at a time."""
        size = batch_rows or self.batch_rows
        if self.partitioned:
            yield from self.to_dataset().to_batches(batch_size=size)
        elif self.format == "parquet":
            import pyarrow.parquet as pq

            with self.filesystem.open_input_file(self.path) as source:
                yield from pq.ParquetFile(source).iter_batches(batch_size=size)
        else:
            reader = self._ipc_reader(self._open())
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Stream the rows as dicts, one batch converted at a time."""
        for batch in self.to_batches():
            yield from batch.to_pylist()

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.to_table().to_pylist()

    def _open(self) -> Any:
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            return pa.memory_map(self.path)  # zero-copy: batches point into the page cache
        return self.filesystem.open_input_file(self.path)

    @staticmethod
    def _ipc_reader(source: Any) -> Any:
        return pa.ipc.open_file(source)
