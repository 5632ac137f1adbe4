"""JSON Lines serializer: one JSON document per line (append-safe)."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import IO, Any


def _plain(item: Any) -> Any:
    """Dataclass instances become dicts; everything else is left to ``json``."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item


def _lines(data: Any) -> Iterable[Any]:
    """The values that get one line each.

    Strings, bytes and dataclass instances are single values although they may
    be iterable; any other iterable gives one line per item (a ``dict`` therefore
    gives one line per key, as in 0.32.4).
    """
    if isinstance(data, (str, bytes)) or dataclasses.is_dataclass(data):
        return (data,)
    if isinstance(data, Iterable):
        return data
    return (data,)


class JsonlSerializer:
    """Write one JSON line per item of ``data`` (or one line for a single value).

    >>> import io
    >>> buf = io.StringIO()
    >>> jsonl_serializer.serialize(buf, [{"a": 1}, "x"])
    >>> buf.getvalue()
    '{"a": 1}\\n"x"\\n'
    """

    extension = "jsonl"

    def serialize(self, file: IO[str], data: Any) -> None:
        """Write the lines; items are streamed, so lazy iterables are not held in memory."""
        for item in _lines(data):
            file.write(json.dumps(_plain(item)) + "\n")

    def __repr__(self) -> str:
        return "JsonlSerializer()"


jsonl_serializer = JsonlSerializer()
