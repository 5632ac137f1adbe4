"""Large values on the Ray runner: zero-copy reads, inline vs object store, lifetimes.

A value output of at least ``object_store_threshold`` bytes (or of a step with the
object-store materializer) stays in Ray's object store and is mapped zero-copy by
its readers; smaller ones come back inline. The run drops its refs once a value's
readers are done and when it ends: nothing of a run stays in the store.
"""
from __future__ import annotations

import gc
import pickle
import sys
import threading
import time

import pytest

import object_pipelines as op
import ray_pipelines as rp
from synaflow import run
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.distributed import RayPipelineExecutor, ray_run
from synaflow.distributed.errors import RaySerializationError
from synaflow.materializers import object_store_materializer, pickled_materializer

N = 1 << 19  # int64 elements: 4 MiB, above the default 1 MiB threshold


def pickle_by_value(module_name: str) -> None:
    """Workers cannot import test modules: ship their functions by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[module_name])


@pytest.fixture
def ray(ray_session):
    pickle_by_value(op.__name__)
    return ray_session


def settle_to(baseline: int, timeout: float = 15.0) -> int:
    """Object-store bytes once they are back at ``baseline`` (or when time is up).
    Ray frees objects asynchronously, and worker caches drop idle entries after
    ``CACHE_IDLE_S``."""
    deadline = time.monotonic() + timeout
    used = op.store_usage()[0]
    while used > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        gc.collect()
        used = op.store_usage()[0]
    return used


def test_reads_are_zero_copy(ray):
    """A numpy array and an Arrow table above the threshold reach their reader as
    read-only views of the object store's shared memory, not as copies."""
    out = ray_run(op.zero_copy(), op.Size(N)).outputs["look"]
    assert out["array_in_store"] and out["table_in_store"], out
    assert out["array_writeable"] is False
    assert out == run(op.zero_copy(), op.Size(N)).outputs["look"] | {
        "array_in_store": True, "table_in_store": True, "array_writeable": False}


def test_threshold_picks_the_path(ray):
    """Below the threshold a value comes back inline (the driver holds it, so it is
    still in ``all_outputs`` after the run); above it, it stays in the store and is
    released once read. The run option and the step option move the line."""
    expected = run(op.sizes(), op.Size(N)).outputs
    result = ray_run(op.sizes(), op.Size(N))
    assert result.outputs == expected
    assert result.all_outputs["small"] == [N, N + 1]
    assert "array" not in result.all_outputs
    with pytest.raises(KeyError, match="released from Ray's object store"):
        result.all_outputs["array"]

    everything = ray_run(op.sizes(), op.Size(N), object_store_threshold=0)
    assert everything.outputs == expected and "small" not in everything.all_outputs

    inline = ray_run(op.sizes(object_store_threshold=64 * op.MB), op.Size(N))
    assert inline.outputs == expected and inline.all_outputs["array"].sum() == N * (N - 1) // 2


@pytest.mark.parametrize("debug", [True, "serialize"])
def test_threshold_in_debug_modes(debug):
    """The debug transports take the same paths (no Ray needed)."""
    pickle_by_value(op.__name__)
    result = ray_run(op.sizes(), op.Size(N), debug=debug)
    assert result.outputs == run(op.sizes(), op.Size(N)).outputs
    assert "small" in result.all_outputs and "array" not in result.all_outputs


def test_nothing_leaks_across_runs(ray):
    """After each run the store is back where it started, with the RunResult still
    alive: intermediate values (a value read by a value step and by an EACH step,
    a stream collected by the object-store materializer) are not pinned by it,
    nor by the workers that read them."""
    baseline = settle_to(op.store_usage()[0])
    results = []
    for _ in range(2):
        result = ray_run(op.lifetimes(), op.Size(N))
        results.append(result)
        assert result.outputs == run(op.lifetimes(), op.Size(N)).outputs
        assert settle_to(baseline) <= baseline, "objects of the run are still stored"


def test_released_when_last_reader_is_done(ray):
    """A value leaves the store during the run, as soon as its only reader is over
    (measured by a later step, while the run is still going)."""
    low = ray_run(op.released_early(), op.Size(4 * N)).outputs["released_in_run"]
    assert low < 4 * N * 8


def test_outputs_live_as_long_as_the_result(ray):
    """A large terminal output is what the user asked for: read back zero-copy, it
    stays in the store while the result holds it, and is freed with it."""
    baseline = settle_to(op.store_usage()[0])
    result = ray_run(op.kept_output(), op.Size(N))
    value = result.outputs["big_output"]
    assert value[-1] == N - 1 and not value.flags.writeable
    assert op.store_usage()[0] >= baseline + N * 8
    del result, value
    assert settle_to(baseline) <= baseline


@pytest.mark.parametrize("mode", rp.MODES)
@pytest.mark.parametrize("factory", [object_store_materializer, pickled_materializer])
def test_same_outputs_on_every_runner(mode, factory, request):
    """Readers of different shapes (set, list, iterator) get what the memory
    materializer gives them, on every runner and with either materializer."""
    if mode == "ray":
        request.getfixturevalue("ray")
    pickle_by_value(op.__name__)
    expected = run(op.shaped(None), op.Words("b a b c")).outputs
    assert expected == {"distinct": ["a", "b", "c"], "ordered": "b-a-b-c", "streamed": 4}
    out = rp.run_mode(mode, op.shaped(factory()), op.Words("b a b c")).outputs
    assert out == expected
    tables = rp.run_mode(mode, op.arrow_tables(factory()), op.Size(1000)).outputs
    assert tables == {"table_sum": 3000}


@pytest.mark.parametrize("debug", [False, "serialize"])
def test_unserialisable_output_names_step(debug, request):
    """A value that cannot go into the object store fails the run with an error
    naming the pipeline and the step and saying what to do; in-process (and in the
    plain debug mode) the same pipeline runs."""
    if debug is False:
        request.getfixturevalue("ray")
    pickle_by_value(op.__name__)
    p = op.unpicklable(object_store_materializer())
    assert run(p, op.Size(1)).outputs == {"uses_lock": 1}
    assert ray_run(p, op.Size(1), debug=True).outputs == {"uses_lock": 1}
    with pytest.raises(RaySerializationError) as err:
        ray_run(p, op.Size(1), debug=debug)
    for words in ("Pipeline 'unpicklable'", "step 'lock'", "lock", "cannot be serialised",
                  "Return plain data"):
        assert words in str(err.value)


def test_pickled_materializer_error_names_step():
    """The anti-baseline says which step's output it could not pickle."""
    result = run(op.unpicklable(pickled_materializer()), op.Size(1))
    assert result.status == "completed_with_errors"
    assert result.steps["lock"].errors == 1 and result.steps["uses_lock"].status == "skipped"


def test_serialized_size():
    """Buffers are counted without pickling; long containers from a sample; anything
    else is pickled with its buffers out of band (so a lock raises)."""
    import numpy as np
    import pyarrow as pa

    from synaflow.distributed.objects import serialized_size

    big = np.zeros(N, dtype=np.int64)
    assert serialized_size(big) == N * 8
    assert serialized_size(pa.table({"a": big})) == N * 8
    assert serialized_size(b"x" * 1000) == 1000
    assert N * 8 <= serialized_size({"a": big}) < N * 8 + 1000
    rows = [{"id": i, "name": "x" * 10} for i in range(10_000)]
    estimate, exact = serialized_size(rows), len(pickle.dumps(rows, protocol=5))
    assert exact / 3 < estimate < exact * 3
    with pytest.raises(TypeError, match="lock"):
        serialized_size([1, threading.Lock()])


def test_threshold_option_is_validated():
    """The step option is checked at build time and recorded in the contract; the
    run option when the executor is made."""
    p = op.sizes(object_store_threshold=0)
    assert p.to_dict()["steps"]["array"]["ray_options"] == {"object_store_threshold": 0}
    with pytest.raises(PipelineDefinitionError, match="object_store_threshold.*int >= 0"):
        op.sizes(object_store_threshold=-1)
    with pytest.raises(ValueError, match="object_store_threshold must be bytes"):
        RayPipelineExecutor(op.sizes(), object_store_threshold=1.5)
    # One size parser for every byte option (issue 24, item 8).
    assert op.sizes(object_store_threshold="4MiB").to_dict()["steps"]["array"][
        "ray_options"] == {"object_store_threshold": 4 << 20}
    assert RayPipelineExecutor(op.sizes(), object_store_threshold="2MiB",
                               debug=True).options.object_store_threshold == 2 << 20


@pytest.mark.parametrize("kind, producer, reader, kept", [
    ("each", "locked_each", "each_indices", [0, 2]),
    ("stream", "locked_stream", "stream_indices", [0]),
])
def test_unpicklable_item_names_step_and_index(ray, kind, producer, reader, kept):
    """An EACH or stream item Ray cannot serialise is the producing step's failure at
    that item (a RaySerializationError naming both), not Ray's raw error blamed on the
    reader: under CONTINUE the other items go on (a stream ends there), under STOP the
    run stops naming it. In-process the same pipeline runs whole."""
    from synaflow import OnError, PipelineStopException

    reports: list = []
    p = op.unpicklable_items(kind, OnError.CONTINUE, reports)
    assert run(p, op.Indices()).outputs == {reader: [0, 1, 2]} and reports == []
    result = ray_run(p, op.Indices())
    assert result.outputs == {reader: kept}
    assert len(reports) == 1
    text = str(reports[0].exception)
    assert isinstance(reports[0].exception, RaySerializationError)
    assert f"step '{producer}': item 1 of its output (Locked)" in text
    assert "cannot pickle" in text and "Return plain data" in text
    with pytest.raises(PipelineStopException) as info:
        ray_run(op.unpicklable_items(kind, OnError.STOP), op.Indices())
    assert f"step '{producer}': item 1 of its output" in str(info.value)
