"""Pickle serializer: ``pickle.dump`` into a binary file (append-safe: one pickle per call)."""
from __future__ import annotations

import pickle
from typing import IO, Any


class PickleSerializer:
    """Write ``data`` with ``pickle.dump``; files are opened in binary mode.

    >>> import io
    >>> buf = io.BytesIO()
    >>> pickle_serializer.serialize(buf, {"a": 1})
    >>> import pickle as std_pickle; std_pickle.loads(buf.getvalue())
    {'a': 1}
    """

    extension = "pkl"
    # The disk helpers already open "pkl" files in binary mode; the flag says so
    # explicitly for anyone who copies this serializer under another extension.
    binary = True

    def serialize(self, file: IO[bytes], data: Any) -> None:
        """Pickle ``data`` into ``file`` with the default protocol."""
        pickle.dump(data, file)

    def __repr__(self) -> str:
        return "PickleSerializer()"


pickle_serializer = PickleSerializer()
