"""JSON serializer: the whole value as one JSON document (not append-safe)."""
from __future__ import annotations

import json
from typing import IO, Any


class JsonSerializer:
    """Write ``data`` as a single JSON document with ``json.dump``.

    >>> import io
    >>> buf = io.StringIO()
    >>> json_serializer.serialize(buf, {"a": [1, 2]})
    >>> buf.getvalue()
    '{"a": [1, 2]}'
    """

    extension = "json"

    def serialize(self, file: IO[str], data: Any) -> None:
        """Dump ``data`` into ``file`` (a text file)."""
        json.dump(data, file)

    def __repr__(self) -> str:
        return "JsonSerializer()"


json_serializer = JsonSerializer()
