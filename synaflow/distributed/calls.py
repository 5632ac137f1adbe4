"""What a worker needs to call one step, and how a call went, as data.

A *spec* (``StepSpec``) is everything a worker needs to call one step, stored once
per stage and cached per process (``load_spec``); a *slice* ``(ref, start, stop)``
names items ``start:stop`` of the list stored under ``ref`` (``pack``/``unpack``).
``CallOutcome`` and ``RowOutcomes`` are what a value call and a batch of rows report
back. Both the synchronous calls (``worker``) and their async twins (``aio``) build
on this module, which imports neither.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from itertools import zip_longest
from typing import Any, Callable, NamedTuple

from ..core.signatures import fn_kind
from ..engine.core import CallPlan
from ..engine.sizes import nbytes
from ..engine.tracker import note_item
from ..engine.resources import SingleCall
from .refs import Remote, fetch, remote_view
from .errors import portable_error
from .objects import check_item, note_read


@dataclass(frozen=True)
class NodeView:
    """The parts of a DagNode that ``check_output_kind`` reads (DagNodes carry
    observers, which need not be serialisable)."""

    name: str
    is_stream: bool
    output_contract: Any
    output: Any


@dataclass
class StepSpec:
    """One stage's call, shipped once: function, static arguments, row wiring."""

    key: str
    node: NodeView
    fn: Callable[..., Any]
    static: dict[str, Any]
    source_params: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    stop_on_error: bool = False
    materializer: Callable[..., Any] | None = None
    collected_default: bool = False
    ship_errors: bool = True  # False in the plain debug mode: errors stay as raised
    retry_on: tuple = ()  # ray={"retry_exceptions": ...}: raised so that Ray retries
    inline_max: int = 0  # values smaller than this go back inline (objects.place)
    pipeline: str = ""

    def error(self, exc: BaseException) -> BaseException:
        """A step's exception, ready to travel back to the driver."""
        return portable_error(exc, self.node.name) if self.ship_errors else exc

    @cached_property
    def is_async(self) -> bool:
        """An async pipeline's step: runs on the process's event loop (``aio``)."""
        return fn_kind(self.fn) in ("async", "async_generator")


@dataclass
class CallOutcome:
    """How a value call (or a collect) went. ``setup_error`` is fatal (arguments or
    resources could not be prepared); ``error`` is the step's own failure."""

    error: BaseException | None = None
    setup_error: BaseException | None = None
    mat_error: BaseException | None = None
    count: int = 1
    size: int | None = None
    indexable: bool = False
    nbytes: int | None = None  # serialized size of the value (objects.place)
    inline: tuple | None = None  # (value,) when it came back inline, not in the store


class BatchOutcome(NamedTuple):
    """How a batch of EACH rows went (the rows' results travel beside it). ``errors``
    lists ``(row index, exception)`` in row order; under STOP the batch ended at the
    first. ``setup_error`` is fatal: a replica could not make its resources."""

    ok: int  # rows that returned a result
    errors: list
    elapsed_s: float
    nbytes: int  # estimated bytes of the results (``estimate_bytes``)
    setup_error: BaseException | None = None

    @property
    def rows(self) -> int:
        """The rows this batch called the step on."""
        return self.ok + len(self.errors)


NO_ROWS = BatchOutcome(0, [], 0.0, 0)


class PullOutcome(NamedTuple):
    """How pulling up to ``k`` items of a generator on its actor went (the items
    travel beside it): ``done`` when the generator ended, ``error`` when it raised."""

    n: int
    done: bool
    error: BaseException | None
    elapsed_s: float
    nbytes: int


_SPECS: OrderedDict = OrderedDict()
_SPEC_LOCK = threading.Lock()
_SPEC_CACHE_SIZE = 32
# Cached inputs pin their objects in the object store: an entry unused this long is
# dropped by a sweeper thread, so a finished run's values are freed soon after it.
CACHE_IDLE_S = 3.0
_USED: dict = {}
_SWEEPER: list = []


def _touch(key: Any) -> None:
    """Mark a cache entry used now (call with ``_SPEC_LOCK`` held)."""
    _USED[key] = time.monotonic()
    if not _SWEEPER:
        sweeper = threading.Thread(target=_sweep, name="synaflow-cache-sweep", daemon=True)
        _SWEEPER.append(sweeper)
        sweeper.start()


def _sweep() -> None:
    while True:
        time.sleep(CACHE_IDLE_S / 3)
        forget_idle(time.monotonic() - CACHE_IDLE_S)


def forget_idle(before: float = float("inf")) -> None:
    """Drop cached specs and collections last used before ``before`` (all by default)."""
    with _SPEC_LOCK:
        for cache in (_SPECS, _COLLECTIONS):
            for key in [k for k in cache if _USED.get(k, 0.0) < before]:
                del cache[key]
                _USED.pop(key, None)


def forget_spec(key: str) -> None:
    """Drop the cached spec of stage ``key`` (its actor slot was released)."""
    with _SPEC_LOCK:
        _SPECS.pop(key, None)
        _USED.pop(key, None)


def load_spec(box: tuple) -> tuple[StepSpec, dict[str, Any]]:
    """The spec behind ``box = (key, [spec_ref], retrying)`` (or ``(key, spec, ...)`` for
    a stage that calls once) and its resolved static kwargs, fetched once per process
    and stage."""
    key, holder = box[0], box[1]
    if isinstance(holder, StepSpec):
        # A stage that calls once: caching its (possibly large) inputs in this
        # process would keep them pinned in the object store after the run.
        return holder, resolve_static(holder.static)
    with _SPEC_LOCK:
        hit = _SPECS.get(key)
        if hit is not None:
            _SPECS.move_to_end(key)
            _touch(key)
            return hit
    spec = holder if isinstance(holder, StepSpec) else fetch(holder)[0]
    hit = (spec, resolve_static(spec.static))
    with _SPEC_LOCK:
        _SPECS[key] = hit
        _touch(key)
        while len(_SPECS) > _SPEC_CACHE_SIZE:
            _SPECS.popitem(last=False)
    return hit


def resolve_static(static: dict[str, Any]) -> dict[str, Any]:
    """Fetch every ``Remote`` argument in one round trip and apply shapes/attributes."""
    remotes = [(k, v) for k, v in static.items() if isinstance(v, Remote)]
    if not remotes:
        note_read(None)
        return dict(static)
    t0 = time.perf_counter()
    values = fetch([v.ref for _, v in remotes])
    out = dict(static)
    for (param, view), value in zip(remotes, values):
        out[param] = remote_view(view, value)
    note_read(time.perf_counter() - t0)
    return out


def pack(columns: list[list[tuple]]) -> tuple[list, list]:
    """Slices -> ``(bounds, refs)``: each distinct stream ref once, to pass as a
    top-level task argument (Ray fetches those before the call and releases them
    after it, instead of leaving nested refs to the worker's garbage collector);
    a ``Remote`` (a complete collection) stays in the bounds and is read once per
    process."""
    refs: list = []
    index: dict[int, int] = {}
    bounds = []
    for slices in columns:
        col = []
        for ref, start, stop in slices:
            if isinstance(ref, Remote):
                col.append((ref, start, stop))
                continue
            i = index.get(id(ref))
            if i is None:
                i = index[id(ref)] = len(refs)
                refs.append(ref)
            col.append((i, start, stop))
        bounds.append(col)
    return bounds, refs


def unpack(bounds: list, values: tuple) -> list[list]:
    """The items of each column of ``pack``ed slices, ``values`` being the fetched refs."""
    columns = []
    for col in bounds:
        if len(col) == 1 and not isinstance(col[0][0], Remote):
            i, start, stop = col[0]
            value = values[i]
            columns.append(value if start == 0 and stop == len(value) and type(value) is list
                           else list(value[start:stop]))
            continue
        items: list = []
        for key, start, stop in col:
            items.extend((collection(key) if isinstance(key, Remote) else values[key])
                         [start:stop])
        columns.append(items)
    return columns


_COLLECTIONS: OrderedDict = OrderedDict()


def collection(remote: Remote) -> Any:
    """A complete collection (a param or a materialized value), fetched once per
    process while it is in use (EACH batches read slices of it)."""
    key = (remote.ref, remote.path, repr(remote.shape))
    with _SPEC_LOCK:
        if key in _COLLECTIONS:
            _COLLECTIONS.move_to_end(key)
            _touch(key)
            return _COLLECTIONS[key]
    value = remote_view(remote, fetch([remote.ref])[0])
    with _SPEC_LOCK:
        _COLLECTIONS[key] = value
        _touch(key)
        while len(_COLLECTIONS) > 4:
            _COLLECTIONS.popitem(last=False)
    return value


def estimate_bytes(items: list) -> int:
    """The bytes of a batch's items (``engine.sizes.nbytes``), for byte-aware batching
    and byte-bounded hand-offs (``max_in_flight_bytes``): every item of a short batch
    (large items come in short batches), first item x count beyond ``_MEASURE_ALL``
    (a long batch is one of small items, where measuring each would cost more than
    it tells)."""
    if len(items) <= _MEASURE_ALL:
        return sum(map(nbytes, items))
    return nbytes(items[0]) * len(items)


_MEASURE_ALL = 256


# -- EACH rows --------------------------------------------------------------------------
def retrying(box: tuple, spec: StepSpec, exc: BaseException) -> bool:
    """Raise ``exc`` for Ray to retry the call (``retry_exceptions``)? Not on the
    final attempt, which the driver sends once Ray's retries are used up."""
    return len(box) > 2 and box[2] and isinstance(exc, spec.retry_on)


class RowOutcomes:
    """One batch's results and failed rows, as ``run_rows`` reports them (shared by
    the synchronous loop and the async one in ``aio``)."""

    def __init__(self, spec: StepSpec, box: tuple) -> None:
        self.spec, self.box = spec, box
        self.results: list = []
        self.errors: list = []
        self.t0 = time.perf_counter()

    def add(self, index: int, value: Any) -> None:
        """A row's result, once it is known that Ray can ship it (``check_item``)."""
        check_item(self.spec, value, index)
        self.results.append(value)

    def failed(self, index: int, exc: Exception, row: Any) -> bool:
        """Record a failed row (with a short repr of it, which travels with ``exc``);
        True if the batch stops here (STOP). Raises ``exc`` again when Ray should retry
        the call (``retry_exceptions``)."""
        note_item(exc, row)
        if retrying(self.box, self.spec, exc):
            raise exc
        self.errors.append((index, self.spec.error(exc)))
        return self.spec.stop_on_error

    def done(self) -> tuple[BatchOutcome, list]:
        results = self.results
        return BatchOutcome(len(results), self.errors, time.perf_counter() - self.t0,
                            estimate_bytes(results)), results


def row_calls(spec: StepSpec, static: dict[str, Any], columns: list, row_call: Any
              ) -> tuple[Callable, Any]:
    """The per-row call and the rows it takes (bare items for a ``SingleCall``)."""
    call = row_call or _fast_call(spec, static, columns)
    if getattr(call, "single", False):
        return call, columns[0]
    rows = ((item,) for item in columns[0]) if len(columns) == 1 else zip_longest(*columns)
    return call, rows


def _fast_call(spec: StepSpec, static: dict[str, Any], columns: list) -> Callable:
    """One keyword argument per row is the common case: skip building a dict per row."""
    fn = spec.fn
    if len(columns) == 1 and len(spec.source_params[0]) == 1 and not static \
            and spec.source_params[0][0][1] is None:
        param = spec.source_params[0][0][0]
        return SingleCall(lambda item: fn(**{param: item}))
    plan = CallPlan(static, columns, spec.source_params, [])
    return lambda row: fn(**plan.row_kwargs(row))


def call_failed(box: tuple, spec: StepSpec, exc: Exception) -> tuple[CallOutcome, None]:
    """The outcome of a value call whose step raised ``exc``; raises it again instead
    when Ray should retry the call (``retry_exceptions``)."""
    if retrying(box, spec, exc):
        raise exc
    return CallOutcome(error=spec.error(exc)), None


def materialized(spec: StepSpec, value: Any) -> tuple[BaseException | None, Any]:
    """``(error, value)`` of the step's materializer applied to ``value``."""
    try:
        return None, spec.materializer(value)  # type: ignore[misc]
    except Exception as exc:
        return spec.error(exc), None


def describe(meta: CallOutcome, value: Any) -> CallOutcome:
    """Record what an EACH consumer needs to unroll ``value`` without fetching it."""
    try:
        meta.size = len(value)
    except Exception:
        meta.size = None
    meta.indexable = isinstance(value, (list, tuple, range, str))
    return meta


def async_spec(box: tuple) -> StepSpec | None:
    """The spec behind ``box`` if its step is async, else None (also when it cannot be
    loaded: the synchronous path reports that as a setup error)."""
    if isinstance(box[1], StepSpec):  # sent along: no need to fetch its inputs here
        return box[1] if box[1].is_async else None
    try:
        spec = load_spec(box)[0]
    except Exception:
        return None
    return spec if spec.is_async else None
