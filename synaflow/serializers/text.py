"""Plain-text serializer: strings as-is, one ``str(item)`` line per item of an iterable."""
from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any


class TextSerializer:
    """Write ``data`` as text.

    - ``str``: written unchanged;
    - ``bytes``: decoded as UTF-8 when ``file`` is a text file (it has an
      ``encoding`` attribute), written raw otherwise;
    - any other iterable: ``str(item) + "\\n"`` per item (a ``dict`` gives its keys);
    - anything else: ``str(data)``, without a trailing newline.

    >>> import io
    >>> buf = io.StringIO()
    >>> text_serializer.serialize(buf, [1, "a"])
    >>> buf.getvalue()
    '1\\na\\n'
    """

    extension = "txt"

    def serialize(self, file: IO[Any], data: Any) -> None:
        """Write ``data`` into ``file`` following the rules above."""
        if isinstance(data, str):
            file.write(data)
        elif isinstance(data, bytes):
            file.write(data.decode("utf-8") if hasattr(file, "encoding") else data)
        elif isinstance(data, Iterable):
            for item in data:
                file.write(f"{item}\n")
        else:
            file.write(str(data))

    def __repr__(self) -> str:
        return "TextSerializer()"


text_serializer = TextSerializer()
