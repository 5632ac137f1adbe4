"""How many bytes an item takes, for byte-bounded hand-offs (``max_in_flight_bytes``).

One cheap measure for every runner, with no import of numpy or pyarrow: their
arrays, tables and record batches all say their size as ``.nbytes``.

    >>> nbytes(b"abcd"), nbytes("héllo"), nbytes(memoryview(bytes(8)))
    (4, 5, 8)
    >>> class Blob:
    ...     def __synaflow_nbytes__(self) -> int:
    ...         return 1024
    >>> nbytes(Blob())
    1024
"""
from __future__ import annotations

import sys
from typing import Any


def nbytes(item: Any) -> int:
    """The size of ``item`` in bytes, in this order of preference:

    - ``item.__synaflow_nbytes__()``, for a type that knows its own size best;
    - ``len`` of ``bytes``/``bytearray``/``str`` (characters), ``memoryview.nbytes``;
    - an integer ``.nbytes`` attribute (numpy arrays, pyarrow Table/RecordBatch/Array);
    - ``sys.getsizeof`` otherwise (shallow: a container's own size, not its contents).
    """
    hook = getattr(type(item), "__synaflow_nbytes__", None)
    if hook is not None:
        return max(0, int(hook(item)))
    if isinstance(item, (bytes, bytearray, str)):
        return len(item)
    if isinstance(item, memoryview):
        return item.nbytes
    size = getattr(item, "nbytes", None)
    if size is not None and not isinstance(size, bool) and hasattr(size, "__index__"):
        return max(0, size.__index__())
    return sys.getsizeof(item)
