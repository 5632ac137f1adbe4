"""Async-def pipelines on the Ray runner (on Ray, in-process debug, debug + serialize):
outputs, statuses, observer events and error reports equal ``async_run``'s, and
async code runs on one event loop per worker process."""
from __future__ import annotations

import asyncio
import os

import async_pipelines as ap
import pytest

from synaflow import OnError, PipelineStopException, async_run
from synaflow.distributed import ray_run


def ship_by_value() -> None:
    """Ray workers cannot import test modules: send this one's functions by value."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(ap)


@pytest.fixture(params=["debug", "serialize", "ray"])
def amode(request):
    """The Ray runner's three modes (the reference is ``async_run``)."""
    if request.param != "debug":
        ship_by_value()
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


def run_mode(mode: str, p, params, **options):
    if mode == "async":
        return asyncio.run(async_run(p, params))
    debug = {"debug": True, "serialize": "serialize", "ray": False}[mode]
    return ray_run(p, params, debug=debug, **options)


def outcome(mode: str, build, params):
    """(result or exception, per-step events, error reports) of one run."""
    rec = ap.ARecorder()
    try:
        result = run_mode(mode, build(rec), params)
        got = (result.status, dict(result.outputs))
    except Exception as exc:  # compared with the reference below
        got = (type(exc).__name__, str(exc))
    return got, rec.per_step(), rec.error_summary()


def assert_same_as_async(mode: str, build, params):
    expected = outcome("async", build, params)
    assert outcome(mode, build, params) == expected
    return expected


def test_async_stream_chain(amode):
    """async generator -> async EACH (some rows fail) -> ``async for`` over the stream
    while it is produced -> async value step; events and error reports as async_run."""
    got = assert_same_as_async(amode, ap.stream_chain, ap.N(30))
    expected = sum(x * x for x in range(30) if x % 7 != 3)
    assert got[0] == ("completed_with_errors", {"label": f"30:{expected}"})
    assert [e[2:] for e in got[2]] == [(3, 1), (9, 2), (15, 3), (21, 4)]


@pytest.mark.parametrize("policy", [OnError.CONTINUE, OnError.STOP])
def test_async_error_policy(amode, policy):
    """Row errors of an async EACH step reach the async error materializer with the
    counts async_run reports; STOP ends the run at the first one."""
    build = lambda rec: ap.checked(rec, policy)  # noqa: E731
    got = assert_same_as_async(amode, build, ap.Xs(list(range(10))))
    if policy is OnError.CONTINUE:
        assert got[0] == ("completed_with_errors", {"kept": [0, 1, 3, 4, 6, 7, 9]})
    else:
        assert got[0][0] == "PipelineStopException"
        assert got[2] == [("achecked", "KeyError", 2, 1)]


def test_async_stream_wide_handoff(amode):
    """The same chain with a hand-off of 16 items (pulls of several items at once)."""
    build = lambda rec: ap.stream_chain(rec, mif=16)  # noqa: E731
    assert_same_as_async(amode, build, ap.N(50))


def test_async_resources(amode):
    """An async context-manager resource entered around every EACH row (in a replica on
    Ray) and an async factory that is awaited, as async_run does."""
    got = assert_same_as_async(amode, ap.with_resources, ap.N(6))
    assert got[0] == ("succeeded", {"shifted": [1000, 1010, 1020, 1030, 1040, 1050]})


@pytest.mark.parametrize("build", [ap.broken_value, ap.broken_each],
                         ids=["value", "each"])
def test_failing_resource_is_fatal(amode, build):
    """A resource factory that raises ends the run with its own exception (a value
    step's task, an EACH step's replica), as in async_run, with the same events: no
    step was STARTED, as the worker made the resources before any was reported."""
    got, steps, errors = outcome(amode, build, ap.N(3))
    expected, expected_steps, expected_errors = outcome("async", build, ap.N(3))
    assert got == expected == ("ConnectionError", "no route to host")
    assert errors == expected_errors == []
    assert steps == expected_steps == {"": [("pipeline_started", ()),
                                            ("pipeline_failed", ())]}


def test_generator_keeps_its_loop(amode):
    """An async generator pulled many times (max_in_flight=1) by the actor's threads
    keeps loop-bound state (an asyncio.Queue and a task) across yields: every pull
    resumes it on the loop it started on; one loop per process, never one per row."""
    result = run_mode(amode, ap.loop_bound(), ap.N(40))
    rows = result.outputs["placed"]
    assert [r[0] for r in rows] == list(range(40))
    loops: dict[int, set] = {}
    for _, gen_pid, gen_loop, pid, loop, thread in rows:
        loops.setdefault(gen_pid, set()).add(gen_loop)
        loops.setdefault(pid, set()).add(loop)
        assert thread == "synaflow-async-loop"
    assert all(len(ids) == 1 for ids in loops.values()), loops


def test_async_error_keeps_type_and_traceback(amode):
    """Under STOP the run raises PipelineStopException caused by the step's own
    exception; across processes it carries the remote traceback."""
    rec = ap.ARecorder()
    with pytest.raises(PipelineStopException) as info:
        run_mode(amode, ap.exploding(rec), ap.N(3))
    cause = info.value.__cause__
    assert type(cause) is LookupError and "no entry for 3" in str(cause)
    if amode != "debug":
        note = "".join(cause.__notes__)
        assert "Remote traceback (step 'aexplode'" in note and "in aexplode" in note


def test_async_error_materializer_gets_original(amode):
    """The async error materializer (run in the driver) gets the original KeyError."""
    rec = ap.ARecorder()
    result = run_mode(amode, ap.checked(rec), ap.Xs([0, 1, 2, 3]))
    assert result.outputs == {"kept": [0, 1, 3]}
    (ctx,) = rec.errors
    assert type(ctx.exception) is KeyError and ctx.success_count == 2
    if amode != "debug":
        assert "in achecked" in "".join(ctx.exception.__notes__)


def test_replica_batches_overlap(amode):
    """``max_concurrency=2`` on a replica: two one-row batches run at once on its loop
    (row 0 finishes only once row 1 has started); outputs stay in row order."""
    result = run_mode(amode, ap.overlapping(), ap.N(6))
    assert result.status == "succeeded"
    assert result.outputs == {"meet": [0, 1, 2, 3, 4, 5]}


def test_observers_in_the_driver(ray_session):
    """Async observers are awaited in the driver process, for remote steps too."""
    ship_by_value()
    rec = ap.ARecorder()
    run_mode("ray", ap.stream_chain(rec), ap.N(10))
    assert {e[3] for e in rec.events} == {os.getpid()}
    assert ("pipeline_completed", None, (), os.getpid()) in rec.events


def test_called_inside_a_running_loop():
    """ray_run called from a coroutine (a notebook, an async service) still works: the
    runner's loop is its own thread, never the caller's loop."""
    async def main():
        return run_mode("debug", ap.stream_chain(), ap.N(10))

    result = asyncio.run(main())
    assert result.outputs == {"label": f"10:{sum(x * x for x in range(10) if x != 3)}"}
