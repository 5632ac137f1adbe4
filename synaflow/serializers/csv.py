"""CSV serializer: dict rows with a header, or plain rows (``\\r\\n`` line ends)."""
from __future__ import annotations

import csv
import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

_NOTHING = object()


def _plain(row: Any) -> Any:
    """Dataclass rows are written as their ``asdict`` mapping."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return row


def _rows(data: Any) -> Iterable[Any]:
    """Split ``data`` into rows: a non-mapping iterable gives its items, anything else is one row."""
    if isinstance(data, (str, bytes, Mapping)) or dataclasses.is_dataclass(data):
        return (data,)
    if isinstance(data, Iterable):
        return data
    return (data,)


class CsvSerializer:
    """Write rows as CSV.

    If the first row is a mapping (or dataclass) a header is written and
    ``csv.DictWriter`` is used with ``fieldnames`` (default: the first row's
    keys); missing keys become ``""``, extra keys raise ``ValueError``, and
    non-mapping rows are written under the first field. Otherwise
    ``csv.writer`` is used: list/tuple rows as-is, any other row as one cell.

    >>> import io
    >>> buf = io.StringIO()
    >>> csv_serializer.serialize(buf, [{"a": 1, "b": 2}, {"a": 3}])
    >>> buf.getvalue()
    'a,b\\r\\n1,2\\r\\n3,\\r\\n'
    """

    extension = "csv"

    def __init__(self, fieldnames: list[str] | None = None, delimiter: str = ",") -> None:
        self.fieldnames = fieldnames
        self.delimiter = delimiter

    def serialize(self, file: IO[str], data: Any) -> None:
        """Write ``data`` as CSV rows into ``file``; empty data writes nothing."""
        rows = iter(_rows(data))
        first = next(rows, _NOTHING)
        if first is _NOTHING:
            return
        first = _plain(first)
        rows = itertools.chain([first], rows)
        if isinstance(first, Mapping):
            self._write_mappings(file, list(self.fieldnames or first.keys()), rows)
        else:
            self._write_plain(file, rows)

    def _write_mappings(self, file: IO[str], fieldnames: list[str], rows: Iterator[Any]) -> None:
        writer = csv.DictWriter(file, fieldnames=fieldnames, restval="", extrasaction="raise",
                                delimiter=self.delimiter, lineterminator="\r\n")
        writer.writeheader()
        for row in map(_plain, rows):
            if not isinstance(row, Mapping):
                row = {fieldnames[0]: row} if fieldnames else {}
            writer.writerow(row)

    def _write_plain(self, file: IO[str], rows: Iterator[Any]) -> None:
        writer = csv.writer(file, delimiter=self.delimiter, lineterminator="\r\n")
        for row in map(_plain, rows):
            writer.writerow(row if isinstance(row, (list, tuple)) else [row])

    def __synaflow_ref__(self) -> dict[str, Any]:
        """How to rebuild this instance from JSON (see ``synaflow.core.default_materializers``)."""
        fieldnames = None if self.fieldnames is None else list(self.fieldnames)
        return {"ref": f"{__name__}:CsvSerializer",
                "kwargs": {"fieldnames": fieldnames, "delimiter": self.delimiter}}

    def __repr__(self) -> str:
        return f"CsvSerializer(fieldnames={self.fieldnames!r}, delimiter={self.delimiter!r})"


csv_serializer = CsvSerializer()
