"""Turning a step's output into a stream of RecordBatches with one schema.

Private helper of ``synaflow.materializers.arrow``; imports pyarrow.

``Converter(step, schema, batch_rows).batches(items)`` accepts, in any mix:
``pyarrow.Table`` and ``RecordBatch`` items, and rows (mappings, dataclass
instances, named tuples, plain tuples/lists). Rows are grouped into batches of
``batch_rows`` so only one batch of them is converted at a time. Every batch
gets the schema fixed by the first batch (or the declared one); anything that
does not fit raises ``ArrowConversionError`` naming the step, the batch, the row
and the column.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any, Callable

import pyarrow as pa

__all__ = ["ArrowConversionError", "Converter", "items_of", "ARROW_ITEMS"]

ARROW_ITEMS = (pa.RecordBatch, pa.Table)
# What pyarrow raises for a value it cannot convert or cast.
_CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


class ArrowConversionError(ValueError):
    """A step's output could not be converted to Arrow.

    ``step_name`` is the producing step; ``batch`` the 0-based index of the batch
    being built (rows are grouped in batches of ``batch_rows``); ``row`` the 0-based
    index of the offending row in the whole output; ``column`` the column name.
    Each is ``None`` when it does not apply.
    """

    def __init__(self, message: str, *, step_name: str, row: int | None = None,
                 batch: int | None = None, column: str | None = None) -> None:
        where = [f"batch {batch}"] if batch is not None else []
        where += [f"row {row}"] if row is not None else []
        where += [f"column '{column}'"] if column is not None else []
        located = f" ({', '.join(where)})" if where else ""
        super().__init__(f"Step '{step_name}': cannot convert its output to Arrow{located}: "
                         f"{message}")
        self.step_name, self.row, self.batch, self.column = step_name, row, batch, column

    def __reduce__(self) -> Any:
        # Keeps the attributes when the error crosses processes (Ray).
        return (_rebuild_error, (type(self), self.args[0], self.step_name, self.row,
                                 self.batch, self.column))


def _rebuild_error(cls: type, text: str, step: str, row: Any, batch: Any, column: Any) -> Any:
    error = cls.__new__(cls)
    ValueError.__init__(error, text)
    error.step_name, error.row, error.batch, error.column = step, row, batch, column
    return error


def items_of(value: Any, step: str) -> Iterable[Any]:
    """The items of a step's output: a Table or batch is one item, a collection many."""
    if isinstance(value, ARROW_ITEMS):
        return (value,)
    if isinstance(value, pa.RecordBatchReader):
        return value
    if isinstance(value, Mapping):
        return (_table_from_columns(value, step),)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ArrowConversionError(
            f"got a value of type '{type(value).__name__}'; expected a pyarrow Table, "
            "RecordBatches or rows (dicts, dataclasses, tuples)", step_name=step)
    return value


def _table_from_columns(columns: Mapping, step: str) -> pa.Table:
    """A mapping of column name -> values (``{"a": [1, 2], "b": ["x", "y"]}``)."""
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[str(name)] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) \
                else pa.array(values)
        except _CONVERSION_ERRORS as exc:
            raise ArrowConversionError(str(exc), step_name=step, column=str(name)) from exc
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        name = next(n for n, a in arrays.items() if len(a) != len(next(iter(arrays.values()))))
        raise ArrowConversionError("columns have different lengths (ragged columns)",
                                   step_name=step, column=name)
    return pa.table(arrays)


def first_failure(length: int, attempt: Callable[[int], Any]) -> int | None:
    """Index of the first element that makes ``attempt(prefix_length)`` fail, by bisection.

    Only used on the error path; ``None`` if even the whole sequence passes.
    """
    low, high = 0, length  # invariant: prefix of `low` passes, prefix of `high` fails
    try:
        attempt(length)
        return None
    except _CONVERSION_ERRORS:
        pass
    while high - low > 1:
        middle = (low + high) // 2
        try:
            attempt(middle)
            low = middle
        except _CONVERSION_ERRORS:
            high = middle
    return high - 1


class Converter:
    """Items -> RecordBatches with one schema (see the module docstring)."""

    def __init__(self, step: str, schema: pa.Schema | None, batch_rows: int) -> None:
        self.step = step
        self.declared = schema
        self.schema = schema
        self.batch_rows = batch_rows
        self.rows_done = 0  # rows already turned into batches
        self.batches_done = 0

    def error(self, message: str, *, row: int | None = None,
              column: str | None = None) -> ArrowConversionError:
        return ArrowConversionError(message, step_name=self.step, row=row,
                                    batch=self.batches_done, column=column)

    def batches(self, items: Iterable[Any]) -> Iterator[pa.RecordBatch]:
        """Convert lazily: one pending group of rows at most is held in memory."""
        rows: list[Any] = []
        for item in items:
            if isinstance(item, ARROW_ITEMS):
                if rows:
                    yield self._done(self._from_rows(rows))
                    rows = []
                yield from self._from_arrow(item)
            else:
                rows.append(item)
                if len(rows) >= self.batch_rows:
                    yield self._done(self._from_rows(rows))
                    rows = []
        if rows:
            yield self._done(self._from_rows(rows))

    def _done(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows_done += batch.num_rows
        self.batches_done += 1
        return batch

    # -- Arrow input --------------------------------------------------------------------
    def _from_arrow(self, item: pa.Table | pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        if isinstance(item, pa.RecordBatch):
            yield self._done(self._conform(item))
            return
        if item.num_rows == 0:  # no batches to check, but the schema still has to agree
            self._conform(pa.RecordBatch.from_pylist([], schema=item.schema))
        for batch in item.to_batches(max_chunksize=self.batch_rows):
            yield self._done(self._conform(batch))

    def _conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch in the output schema, or an error naming the column that differs."""
        if self.schema is None:
            self.schema = batch.schema
            return batch
        if not batch.schema.equals(self.schema, check_metadata=False):
            self._check_columns(batch.schema.names)
            arrays = [self._conform_column(batch.column(field.name), field)
                      for field in self.schema]
            return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        for array, field in zip(batch.columns, self.schema):
            self._check_nulls(array, field)
        if batch.schema.metadata != self.schema.metadata:  # writers compare metadata too
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
        return batch

    def _check_columns(self, names: list[str]) -> None:
        expected = self.schema.names
        extra = [n for n in names if n not in expected]
        missing = [n for n in expected if n not in names]
        if extra or missing or len(set(names)) != len(names):
            column = (extra or missing or [n for n in names if names.count(n) > 1])[0]
            raise self.error(f"schema drift: this batch has columns {names} but the "
                             f"{self._schema_origin()} has {expected}", column=column)

    def _conform_column(self, array: pa.Array, field: pa.Field) -> pa.Array:
        if array.type != field.type:
            if self.declared is None:
                raise self.error(
                    f"schema drift: column is {array.type} here but {field.type} in the "
                    "first batch; pass schema= to have batches cast to one schema",
                    column=field.name)
            try:
                array = array.cast(field.type)
            except _CONVERSION_ERRORS as exc:
                bad = first_failure(len(array), lambda n: array.slice(0, n).cast(field.type))
                raise self.error(f"cannot cast {array.type} to the declared {field.type}: "
                                 f"{exc}", row=self._row(bad), column=field.name) from exc
        self._check_nulls(array, field)
        return array

    def _check_nulls(self, array: pa.Array, field: pa.Field) -> None:
        if field.nullable or array.null_count == 0:
            return
        index = array.is_null().to_pylist().index(True)
        raise self.error("null in a column the schema declares not nullable",
                         row=self.rows_done + index, column=field.name)

    def _row(self, index: int | None) -> int | None:
        return None if index is None else self.rows_done + index

    def _schema_origin(self) -> str:
        return "declared schema" if self.declared is not None else "first batch"

    # -- rows ------------------------------------------------------------------------------
    def _from_rows(self, rows: list[Any]) -> pa.RecordBatch:
        names = self.schema.names if self.schema is not None else self._names_of(rows[0])
        records = self._records(rows, names)
        columns = list(zip(*records)) if records and names else [() for _ in names]
        arrays = [self._column(values, name, index)
                  for index, (name, values) in enumerate(zip(names, columns))]
        if self.schema is None:
            self.schema = pa.schema([pa.field(n, a.type) for n, a in zip(names, arrays)])
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _names_of(self, row: Any) -> list[str]:
        """Column names when no schema is known yet: the first row's keys or fields."""
        row = _as_mapping(row)
        if isinstance(row, Mapping):
            return [str(k) for k in row]
        if isinstance(row, (tuple, list)):
            return [f"f{i}" for i in range(len(row))]
        raise self.error(f"got an item of type '{type(row).__name__}'; expected a "
                         "RecordBatch, a Table or a row (dict, dataclass, named tuple, tuple)",
                         row=self.rows_done)

    def _records(self, rows: list[Any], names: list[str]) -> list[tuple]:
        """Every row as a tuple in column order; a ragged row is an error."""
        keys = set(names)
        pick = itemgetter(*names) if len(names) > 1 else (
            (lambda r: (r[names[0]],)) if names else (lambda r: ()))
        out = []
        for offset, row in enumerate(rows):
            if type(row) is not dict:
                row = _as_mapping(row)
            if isinstance(row, Mapping):
                if row.keys() != keys:
                    raise self._ragged(row.keys(), names, offset)
                out.append(pick(row))
            elif isinstance(row, (tuple, list)):
                if len(row) != len(names):
                    raise self.error(
                        f"ragged row: it has {len(row)} values but there are {len(names)} "
                        f"columns {names}", row=self.rows_done + offset,
                        column=names[len(row)] if len(row) < len(names) else None)
                out.append(tuple(row))
            else:
                raise self.error(f"got an item of type '{type(row).__name__}' among rows; "
                                 "expected a dict, dataclass, named tuple or tuple",
                                 row=self.rows_done + offset)
        return out

    def _ragged(self, keys: Any, names: list[str], offset: int) -> ArrowConversionError:
        missing = [n for n in names if n not in keys]
        extra = [str(k) for k in keys if k not in set(names)]
        what = " and ".join(([f"lacks columns {missing}"] if missing else [])
                            + ([f"has unexpected columns {extra}"] if extra else []))
        return self.error(f"ragged row: it {what}; every row must have exactly the columns "
                          f"{names} (the {self._schema_origin()})",
                          row=self.rows_done + offset, column=(missing or extra)[0])

    def _column(self, values: tuple, name: str, index: int) -> pa.Array:
        field = self.schema.field(index) if self.schema is not None else None
        wanted = field.type if field is not None else None
        try:
            array = pa.array(values, type=wanted)
        except _CONVERSION_ERRORS as exc:
            bad = first_failure(len(values), lambda n: pa.array(values[:n], type=wanted))
            hint = ""
            if wanted is not None and pa.types.is_null(wanted):
                hint = ("; the column was all null in the first batch, so its type was "
                        "inferred as null: pass schema= to declare it")
            elif wanted is not None and self.declared is None:
                hint = f"; the first batch made it {wanted} (pass schema= to declare types)"
            raise self.error(f"{exc}{hint}", row=self._row(bad), column=name) from exc
        if field is not None:
            self._check_nulls(array, field)
        return array


def _as_mapping(row: Any) -> Any:
    """Dataclass instances and named tuples become dicts; other rows pass unchanged."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    if isinstance(row, tuple) and hasattr(row, "_fields"):
        return dict(zip(row._fields, row))
    return row
