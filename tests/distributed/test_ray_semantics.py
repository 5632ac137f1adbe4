"""Same semantics on every runner: outputs, statuses, observer events and error
reports of the Ray runner (on Ray, in-process debug, debug + serialize) equal the
synchronous runner's."""
from __future__ import annotations

import time

import pytest
import ray_pipelines as rp

from synaflow import OnError, PipelineStopException, ThresholdExceededException
from synaflow.distributed.errors import RemoteStepError


def outcome(mode: str, build, params, **options):
    """(result or exception, per-step events, pipeline events, error reports)."""
    rec = rp.Recorder()
    try:
        result = rp.run_mode(mode, build(rec), params, **options)
        got = (result.status, dict(result.outputs))
    except Exception as exc:  # compared with the reference below
        got = (type(exc).__name__, str(exc))
    return got, rec.per_step(), rec.pipeline_events(), rec.error_summary()


def assert_same_as_sync(mode: str, build, params, **options):
    expected = outcome("sync", build, params)
    assert outcome(mode, build, params, **options) == expected
    return expected


def test_value_chain(mode):
    """Three value steps: tasks whose arguments are the upstream refs."""
    got = assert_same_as_sync(mode, rp.value_chain, rp.N(5))
    assert got[0] == ("succeeded", {"described": "5->12"})


def test_gen_each_all_sum(mode):
    """generator -> EACH (some rows fail, CONTINUE) -> ALL reading the stream."""
    got = assert_same_as_sync(mode, rp.gen_each_sum, rp.N(30))
    expected = sum(x * x for x in range(30) if x % 7 != 3)
    assert got[0] == ("completed_with_errors", {"total": expected})
    assert [e[1:] for e in got[3]] == [("ValueError", 3, 1), ("ValueError", 9, 2),
                                       ("ValueError", 15, 3), ("ValueError", 21, 4)]


@pytest.mark.parametrize("mif", [1, 16])
def test_gen_each_all_sum_windows(mode, mif):
    """The same with a wider hand-off and fixed batches."""
    build = lambda rec: rp.gen_each_sum(rec, mif=mif, ray={"batch_size": 4})  # noqa: E731
    assert_same_as_sync(mode, build, rp.N(50))


def test_fan_out_two_consumers(mode):
    """One stream, two lazy consumers (EACH and ALL): both see every item."""
    got = assert_same_as_sync(mode, rp.fan_out, rp.N(25))
    assert got[0] == ("succeeded", {"collect_plus": (list(range(1, 26)), 25)})


def test_fan_in_zip_stays_aligned(mode):
    """Two EACH branches, one slow with uneven rows in parallel batches, zipped."""
    got = assert_same_as_sync(mode, rp.zip_align, rp.N(40))
    assert got[0][1]["paired"] == [(x * 10, -x) for x in range(40)]


@pytest.mark.parametrize("policy", [OnError.CONTINUE, OnError.STOP])
def test_error_policy(mode, policy):
    """Row errors go to the error materializer (in the driver) with the same counts."""
    build = lambda rec: rp.errors_pipeline(rec, policy)  # noqa: E731
    got = assert_same_as_sync(mode, build, rp.Xs(list(range(1, 11))))
    if policy is OnError.CONTINUE:
        assert got[0] == ("completed_with_errors", {"kept": [1, 2, 4, 5, 7, 8, 10]})
    else:
        assert got[0][0] == "PipelineStopException"


@pytest.mark.parametrize("limits", [{"error_threshold_absolute": 3},
                                    {"error_threshold_absolute": 4},
                                    {"error_threshold_pct": 0.25}])
def test_thresholds(mode, limits):
    """Thresholds are evaluated once, by the driver's tracker, after the last row."""
    build = lambda rec: rp.errors_pipeline(rec, **limits)  # noqa: E731
    assert_same_as_sync(mode, build, rp.Xs(list(range(1, 11))))


def test_error_materializer_gets_original_exception(mode):
    """ErrorContext carries the step's own exception, with the remote traceback."""
    rec = rp.Recorder()
    rp.run_mode(mode, rp.errors_pipeline(rec), rp.Xs([1, 3]))
    (ctx,) = rec.errors
    assert type(ctx.exception) is KeyError
    assert ctx.step_name == "checked" and ctx.error_count == 1 and ctx.success_count == 1
    if mode in ("serialize", "ray"):
        note = "\n".join(getattr(ctx.exception, "__notes__", []))
        assert "Remote traceback (step 'checked'" in note and "def checked" not in note
        assert "in checked" in note and "KeyError" in note


def test_stop_raises_original_as_cause(mode):
    """Under STOP the run raises PipelineStopException caused by the original error."""
    rec = rp.Recorder()
    with pytest.raises(PipelineStopException) as info:
        rp.run_mode(mode, rp.single(rp.explode, rec, OnError.STOP), rp.N(3))
    cause = info.value.__cause__
    assert type(cause) is LookupError and "no entry for 3" in str(cause)
    if mode == "ray":
        assert "in explode" in "".join(cause.__notes__)


def test_unpicklable_exception_still_reported(mode):
    """An exception that cannot travel back arrives as RemoteStepError with its text
    (in one process, sync or debug, it stays the original exception)."""
    rec = rp.Recorder()
    rp.run_mode(mode, rp.single(rp.explode_unpicklable, rec), rp.N(3))
    (ctx,) = rec.errors
    if mode in ("debug", "sync"):
        assert type(ctx.exception) is rp.Unpicklable
    else:
        assert isinstance(ctx.exception, RemoteStepError)
        assert "Unpicklable: cannot ship 3" in str(ctx.exception)
        assert "in explode_unpicklable" in ctx.exception.remote_traceback


def test_observers_run_in_the_driver(ray_session):
    """Events reach observers in the driver process, for remote steps too."""
    import os

    rec = rp.Recorder()
    rp.run_mode("ray", rp.gen_each_sum(rec), rp.N(10))
    assert {pid for *_, pid, _ in rec.events} == {os.getpid()}


def test_stop_cancels_in_flight_work(ray_session):
    """A STOP error ends the run without waiting for rows already running (3 s each)."""
    rp.run_mode("ray", rp.naps(), rp.Xs([5]))  # warm the pool of task workers
    t0 = time.monotonic()
    with pytest.raises(PipelineStopException):
        rp.run_mode("ray", rp.naps(), rp.Xs(list(range(8))))
    assert time.monotonic() - t0 < 2.5


def test_threshold_exception_type(mode):
    """The exceeded threshold surfaces as ThresholdExceededException, as in-process."""
    rec = rp.Recorder()
    p = rp.make("thr", rp.N, [rp.step("numbers", fn=rp.numbers),
                              rp.step("squared", fn=rp.squared, error_threshold_absolute=2),
                              rp.step("total", fn=rp.total)], rec)
    with pytest.raises(ThresholdExceededException):
        rp.run_mode(mode, p, rp.N(20))


def test_data_never_passes_through_driver(ray_session, monkeypatch):
    """The driver fetches only what workers report about their work (row outcomes,
    call outcomes, acknowledgements), never a step's data; a value with two
    consumers is published once, as one ref both read."""
    from synaflow.distributed import RayPipelineExecutor, transport
    from synaflow.distributed.calls import CallOutcome

    fetched = []
    real_get = transport.RayTransport.get

    def spy(self, refs):
        values = real_get(self, refs)
        fetched.extend(values)
        return values

    monkeypatch.setattr(transport.RayTransport, "get", spy)
    ex = RayPipelineExecutor(rp.shared_value())
    assert ex.execute(rp.N(8)).outputs == {"both": (8 << 20, 16 << 20)}
    assert fetched and all(isinstance(v, CallOutcome) for v in fetched)
    ex = RayPipelineExecutor(rp.gen_each_sum())
    ex.execute(rp.N(40))
    assert all(isinstance(v, (CallOutcome, tuple, int, type(None))) for v in fetched)
    assert not any(isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], list)
                   for v in fetched)  # no (meta, items) pairs: items stay remote
    shared = rp.shared_value()
    ex = RayPipelineExecutor(shared)
    ex.execute(rp.N(1))
    # One ref in the object store, read by both (then released: only stored values are).
    assert "blob" in ex.outputs._released and "blob" not in ex.outputs._values
    assert not [k for k in (*ex.outputs._values, *ex.outputs._released)
                if k.startswith("blob__")]


def test_stall_timeout(ray_session):
    """``stall_timeout``: a run where nothing progresses ends with a StallError
    instead of waiting for a step that does not come back."""
    from synaflow import StallError

    t0 = time.monotonic()
    with pytest.raises(StallError, match="Pipeline 'stuck': No progress for 1 s"):
        rp.run_mode("ray", rp.stuck_pipeline(), rp.N(1), stall_timeout=1.0)
    assert time.monotonic() - t0 < 6


@pytest.mark.parametrize("where", ["value", "each", "each_chain", "whole_stream"])
def test_failing_resource_starts_nothing(mode, where):
    """A step whose resource factory raises ends the run with that exception, and, as
    in-process, neither it nor the steps upstream of it were STARTED: a step reports
    STARTED once its worker has made its resources, and a stream is first read only
    once its readers have theirs."""
    events = {}
    for m in ("sync", mode):
        rec = rp.Recorder()
        with pytest.raises(ConnectionError, match="no route to host"):
            rp.run_mode(m, rp.resource_fails(where, rec), rp.N(20))
        events[m] = (rec.pipeline_events(), rec.per_step(), rec.error_summary())
    assert events[mode] == events["sync"] == (
        ["pipeline_started", "pipeline_failed"], {}, [])


def test_value_step_with_resources_reports_as_in_process(mode):
    """A value step with a resource (on Ray: a streaming task that says when the
    resource exists) reports STARTED, COMPLETED and its output as in-process."""
    events = {}
    for m in ("sync", mode):
        rec = rp.Recorder()
        out = rp.run_mode(m, rp.value_with_resource(rec), rp.N(4)).outputs
        events[m] = (out, rec.pipeline_events(), rec.per_step())
    assert events[mode] == events["sync"]
    assert events["sync"][0] == {"tagged_total": 10}
    assert [e for e, _ in events["sync"][2]["tagged_total"]] == ["step_started",
                                                                 "step_completed"]


def test_stream_step_with_resources_reading_its_input_at_once(mode):
    """A stream step with a resource whose function reads its whole input when
    called: its input must flow before it has returned (no waiting for it first)."""
    out = rp.run_mode(mode, rp.eager_stream_reader(), rp.N(5), stall_timeout=20)
    assert out.outputs == {"gathered_sorted": [4, 3, 2, 1, 0]}


def test_progress_ticks_on_real_ray(ray_session):
    """``progress=`` is called from the Ray runner's wait loop (it was swallowed, so the
    CLI's display froze with ``--runner ray``): at least twice a second, with the live
    counts of the step's tracker."""
    from synaflow.distributed import ray_run

    ticks: list[tuple[float, int]] = []

    def progress(core) -> None:
        tracker = core.trackers.get("slow_sum")
        ticks.append((time.monotonic(), 0 if tracker is None else tracker.success))

    started = time.monotonic()
    rows = ray_run(rp.bounded_all(3), rp.N(200), progress=progress).outputs["slow_sum"]
    elapsed = time.monotonic() - started
    assert [r[0] for r in rows] == list(range(200))
    assert len(ticks) >= 2 * int(elapsed), (len(ticks), elapsed)
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.6, max(gaps)


def test_stall_names_the_busy_step(ray_session):
    """issue 24, item 1 on the Ray runner: the StallError names the step in a call.
    (The plain debug mode runs each call inline on the driver, so it sees the stall
    only if the call never returns.)"""
    import stall_support as sup
    from ray import cloudpickle

    from synaflow import StallError
    from synaflow.distributed import ray_run

    cloudpickle.register_pickle_by_value(sup)  # workers cannot import test modules
    with pytest.raises(StallError) as info:
        ray_run(sup.STUCK, sup.Rows(), stall_timeout=0.5)
    text = str(info.value)
    assert "Blocked: step 'stuck_on_two' is busy in a call on item" in text, text
    assert "with no progress for" in text
