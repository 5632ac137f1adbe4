"""Where a value output of the Ray runner lives: inline with its call's report, or in
the object store, and for how long the run holds it.

Placement (on the worker, after the materializer): a value whose serialized size
is below the step's threshold (``object_store_threshold``, default 1 MiB) rides
back to the driver with the call's ``CallOutcome`` and is held there like an
in-process value. A larger one, or any value of a step whose materializer is the
object-store materializer, stays in the object store as the call's second return:
numpy arrays and Arrow buffers go there out of band (Ray's pickle-5 path), once,
and readers on the same node map them zero-copy.

Lifetime (on the driver, ``Lifetimes``): the run drops its refs to a stored value
once every reader of it is over, and drops the rest when the run ends; values in
``RunResult.outputs`` are read back first. Nothing of a run stays pinned after it.
"""
from __future__ import annotations

import pickle
import threading
from typing import Any

DEFAULT_OBJECT_STORE_THRESHOLD = 1 << 20
_SAMPLE = 16  # items of a large list/dict measured to estimate the whole
_READS = threading.local()


def check_threshold(value: Any, pipeline: str) -> int:
    """``ray_run(object_store_threshold=...)``, checked: bytes as an int >= 0 or a size
    string such as ``"4MiB"`` (the parser of ``max_in_flight_bytes``)."""
    from ..core.sizes import parse_size

    size = parse_size(value)
    if size is None or size < 0:
        raise ValueError(f"Pipeline '{pipeline}': object_store_threshold must be bytes as "
                         f"an int >= 0 (0: every value in the object store) or a size such "
                         f"as '4MiB', got {value!r}")
    return size


def note_read(seconds: float | None) -> None:
    """Record how long this thread took to read a call's stored inputs."""
    _READS.last = seconds


def last_read_seconds() -> float | None:
    """Seconds the current step's stored inputs took to read in this worker (fetch
    from the object store, then the reader's shape), or None if it read none; a probe
    for benchmarks and tests, called from inside a value step."""
    return getattr(_READS, "last", None)


def serialized_size(value: Any) -> int:
    """Bytes ``value`` takes in the object store (estimated for long containers).

    Buffers (numpy arrays, Arrow data, ``bytes``) are counted without copying; other
    objects are pickled with their buffers left out of band, which also proves that
    they can be serialised. Raises what pickling raises.
    """
    size = _buffer_size(value)
    if size is not None:
        return size
    if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > _SAMPLE:
        items = list(value.items() if isinstance(value, dict) else value)
        sample = items[:_SAMPLE]
        return _pickled_size(sample) * len(items) // len(sample)
    return _pickled_size(value)


def _buffer_size(value: Any) -> int | None:
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)  # a str: its length, a fair estimate of its UTF-8 size
    if isinstance(value, memoryview):
        return value.nbytes
    module = type(value).__module__ or ""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int) and module.startswith(("numpy", "pyarrow")) \
            and getattr(getattr(value, "dtype", None), "hasobject", False) is False:
        return nbytes
    return None


def _pickled_size(value: Any) -> int:
    from ray import cloudpickle

    buffers: list = []
    data = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return len(data) + sum(pickle.PickleBuffer(b).raw().nbytes for b in buffers)


def output_not_serialisable(pipeline: str, step: str, value: Any, exc: BaseException
                            ) -> BaseException:
    """The error of a value that cannot reach its readers on Ray."""
    from .errors import RaySerializationError

    return RaySerializationError(
        f"Pipeline '{pipeline}', step '{step}': its output ({type(value).__name__}) cannot "
        f"be serialised into Ray's object store ({type(exc).__name__}: {exc}). Its readers "
        "run in other processes. Return plain data (numpy arrays, Arrow tables, "
        "dataclasses, dicts, lists), keep the object inside the step or create it in a "
        "resource factory, or register a serializer with ray.util.register_serializer")


_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})


def _plainly_serialisable(value: Any) -> bool:
    """Values Ray always serialises (no need to prove it): scalars, buffers, and short
    lists/tuples/dicts of scalars."""
    if type(value) in _PLAIN or _buffer_size(value) is not None:
        return True
    if type(value) in (list, tuple) and len(value) <= 64:
        return all(type(v) in _PLAIN for v in value)
    if type(value) is dict and len(value) <= 64:
        return all(type(k) in _PLAIN and type(v) in _PLAIN for k, v in value.items())
    return False


class ItemNotSerialisable(Exception):
    """Stands in, on the worker, for an item of a stream or EACH output that Ray cannot
    serialise; the driver turns it into a ``RaySerializationError`` with the item's
    index in the whole output (``error_for``)."""

    def __init__(self, pipeline: str, step: str, type_name: str, cause: str,
                 local_index: int) -> None:
        super().__init__(pipeline, step, type_name, cause, local_index)
        self.pipeline, self.step, self.type_name = pipeline, step, type_name
        self.cause, self.local_index = cause, local_index

    def error_for(self, index: int) -> BaseException:
        from .errors import RaySerializationError

        return RaySerializationError(
            f"Pipeline '{self.pipeline}', step '{self.step}': item {index} of its output "
            f"({self.type_name}) cannot be serialised into Ray's object store "
            f"({self.cause}). Its readers run in other processes. Return plain data "
            "(numpy arrays, Arrow tables, dataclasses, dicts, lists), keep the object inside "
            "the step or create it in a resource factory, or register a serializer with "
            "ray.util.register_serializer")


def check_item(spec: Any, value: Any, local_index: int) -> None:
    """Raise ``ItemNotSerialisable`` if Ray could not ship ``value`` (an item a step
    produced), so the failure is the producing step's, at that item, instead of Ray's
    raw error in whichever reader fetches the batch. Costs one pickling with buffers
    left out of band, and only for values that are not plainly serialisable; nothing
    in the plain debug mode, where nothing crosses a process boundary."""
    if not spec.ship_errors or _plainly_serialisable(value):
        return
    try:
        _pickled_size(value)
    except Exception as exc:
        raise ItemNotSerialisable(spec.pipeline, spec.node.name, type(value).__name__,
                                  f"{type(exc).__name__}: {exc}", local_index) from None


def place(spec: Any, meta: Any, value: Any) -> tuple[Any, Any]:
    """``(meta, value)`` for the call's two returns: a small value moves into
    ``meta.inline`` (the second return is then ``None``); a large one stays."""
    try:
        size = serialized_size(value)
    except Exception as exc:
        if spec.ship_errors:
            meta.setup_error = output_not_serialisable(spec.pipeline, spec.node.name,
                                                       value, exc)
            return meta, None
        size = 0  # plain debug mode: nothing crosses a process boundary (as in-process)
    meta.nbytes = size
    if size < spec.inline_max:
        meta.inline = (value,)
        return meta, None
    return meta, value
