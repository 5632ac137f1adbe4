"""What runs where the data is: on Ray workers, or in threads in debug mode.

Nothing here decides what an event or an error means. Workers call the step's
function and send back what happened as data (``CallOutcome``, ``BatchOutcome``); the
driver's ``RunCore``/``StepTracker`` apply the rules. Values never go back to the
driver: they stay in the object store and only their refs travel.

Specs, slices and call outcomes are defined in ``calls``; the async twins of these
calls are in ``aio``.
"""
from __future__ import annotations

from typing import Any

from ..core.types import StepMode
from ..engine.core import CallPlan
from ..engine.tracker import value_count
from ..engine.publication import check_output_kind
from ..engine.resources import Resources
from .refs import Remote, fetch, remote_view
from .errors import portable_error
from .objects import place
from . import aio
from .calls import (NO_ROWS, BatchOutcome, CallOutcome, RowOutcomes, StepSpec, async_spec,
                    call_failed, describe, load_spec, materialized, pack, row_calls, unpack)
from .stopping import stoppable


# -- EACH rows --------------------------------------------------------------------------
def run_rows(spec: StepSpec, static: dict[str, Any], columns: list[list], row_call: Any,
             box: tuple = ()) -> tuple[BatchOutcome, list]:
    """Call the step once per row; failed rows are reported (``BatchOutcome``), not
    raised, and the results travel beside the outcome."""
    if spec.is_async:
        return aio.run_rows(spec, static, columns, row_call, box)
    out = RowOutcomes(spec, box)
    call, rows = row_calls(spec, static, columns, row_call)
    for index, row in enumerate(rows):
        try:
            out.add(index, call(row))
        except Exception as exc:
            if out.failed(index, exc, row):
                break
    return out.done()


def _no_rows() -> tuple[BatchOutcome, list]:
    """What a stopped batch returns (nobody reads it: ``stopping``)."""
    return NO_ROWS, []


@stoppable(_no_rows)
def each_batch(box: tuple, bounds: list, *values: Any, replica: Any = None
               ) -> tuple[BatchOutcome, list]:
    """A task (or replica call) over one batch of rows: ``bounds``/``values`` are
    the ``pack``ed slices of each source for these rows (a shorter column is padded
    with ``None``). ``replica`` holds a replica's resources and per-row call."""
    spec, static = load_spec(box)
    columns = unpack(bounds, values)
    if replica is None:
        return run_rows(spec, static, columns, None, box)
    return run_rows(spec, {**static, **replica.resources.values}, columns, replica.row_call,
                    box)


@stoppable(lambda: ((), []))
def each_chain(boxes: list, bounds: list, *values: Any
               ) -> tuple[tuple[BatchOutcome, ...], list]:
    """One batch through fused EACH steps: the first step's rows as in ``each_batch``,
    each next step over the previous one's results. Returns every step's outcome
    (``run_rows``' first value) and the last step's results."""
    columns = unpack(bounds, values)
    metas = []
    results: list = []
    for box in boxes:
        spec, static = load_spec(box)
        meta, results = run_rows(spec, static, columns, None, box)
        metas.append(meta)
        columns = [results]
    return tuple(metas), results


# -- value calls --------------------------------------------------------------------------
@stoppable(lambda: (CallOutcome(), None))
def call_value(box: tuple, streams: dict[str, Any] | None = None, prepared: Any = None
               ) -> tuple[CallOutcome, Any]:
    """Call an ALL step once (streams, if any, are bound to local feeds). ``prepared``:
    its resources, made earlier (``StepWorker.open_call``); closed here either way."""
    spec = async_spec(box)
    if spec is not None:
        return aio.call_value(box, streams, prepared)
    try:
        spec, static = load_spec(box)
        plan = CallPlan({**static, **(streams or {})}, [], [], spec.resources)
        resources = prepared if prepared is not None else Resources(plan, StepMode.ALL)
    except Exception as exc:
        return CallOutcome(setup_error=portable_error(exc, box[0])), None
    try:
        value = spec.fn(**plan.static, **resources.values)
        check_output_kind(spec.node, value)
    except Exception as exc:
        return call_failed(box, spec, exc)
    finally:
        resources.close()
    meta = CallOutcome(count=value_count(value))
    if spec.materializer is not None:
        meta.mat_error, value = materialized(spec, value)
        if meta.mat_error is not None:
            return meta, None
    return place(spec, describe(meta, value), value)


@stoppable(lambda: (None, None))
def open_for_call(box: tuple) -> tuple[Any, BaseException | None]:
    """``(resources, None)`` of an ALL step, made before its call, or ``(None, the
    error of the factory that raised)``."""
    try:
        spec, _ = load_spec(box)
        return aio.resources_for(spec, CallPlan({}, [], [], spec.resources), StepMode.ALL), None
    except Exception as exc:
        return None, portable_error(exc, box[0])


def call_value_opening(box: tuple, streams: dict[str, Any] | None = None) -> Any:
    """``call_value`` for a step with resources, as a streaming task: it yields None
    once the resources exist (the driver reports STARTED then, as in-process), then
    the ``CallOutcome`` and the value (None when it came back inline or failed). A
    factory that raises ends it after one item: the ``CallOutcome`` with the setup error."""
    resources, error = open_for_call(box)
    if resources is None:
        yield CallOutcome(setup_error=error)
        return
    yield None
    meta, value = call_value(box, streams, prepared=resources)
    yield meta
    yield value


def collect(box: tuple, bounds: list, *values: Any) -> tuple[CallOutcome, Any]:
    """Gather a finished stream and apply the materializer (materialized producers)."""
    meta = CallOutcome()
    spec, _ = load_spec(box)
    (value,) = unpack(bounds, values) if bounds else ([],)
    if spec.materializer is not None and not spec.collected_default:
        if spec.is_async:
                meta.mat_error, value = aio.materialize(spec, value)
        else:
            meta.mat_error, value = materialized(spec, value)
        if meta.mat_error is not None:
            return meta, None
    return place(spec, describe(meta, value), value)


def listify(remote: Remote) -> tuple[CallOutcome, list]:
    """Turn a collection into a list once, so every batch sees the same order (a
    set of strings iterates differently in each process)."""
    items = list(remote_view(remote, fetch([remote.ref])[0]))
    return describe(CallOutcome(), items), items


def read_all(slices: list) -> list:
    """The driver's final read of a drained terminal stream."""
    bounds, refs = pack([slices])
    return unpack(bounds, tuple(fetch(refs)))[0]
