"""A misspelt or unknown option is refused by every runner entry point (issue 23, item 3)."""
from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest

from synaflow import async_run, pipeline, run, step
from synaflow.execution.async_engine.executor import AsyncPipelineExecutor
from synaflow.execution.sync_engine.executor import PipelineExecutor


class P(NamedTuple):
    n: int = 2


def double(n: int) -> int:
    return 2 * n


PIPE = pipeline(name="kw", params=P, steps=[step("double", fn=double)])


def ray_debug(p, params, **options):
    from synaflow.distributed import ray_run

    return ray_run(p, params, debug=True, **options)


ENTRIES = {
    "run()": lambda **kw: run(PIPE, P(), **kw),
    "async_run()": lambda **kw: asyncio.run(async_run(PIPE, P(), **kw)),
    "ray_run()": lambda **kw: ray_debug(PIPE, P(), **kw),
    "PipelineExecutor()": lambda **kw: PipelineExecutor(PIPE, **kw),
    "AsyncPipelineExecutor()": lambda **kw: AsyncPipelineExecutor(PIPE, **kw),
}


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_misspelt_option_names_the_closest(entry):
    with pytest.raises(TypeError) as info:
        ENTRIES[entry](stall_timout=1)
    text = str(info.value)
    assert text.startswith(f"{entry} got an unknown keyword 'stall_timout'")
    assert "did you mean 'stall_timeout'?" in text


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_unknown_option_lists_the_valid_ones(entry):
    with pytest.raises(TypeError, match="unknown keyword 'colour': it accepts .*stall_timeout"):
        ENTRIES[entry](colour="red")


def test_known_options_still_work():
    assert run(PIPE, P(), stall_timeout=5).outputs == {"double": 4}
    assert asyncio.run(async_run(PIPE, P(), grace=0.1)).outputs == {"double": 4}
    assert ray_debug(PIPE, P(), stall_timeout=5).outputs == {"double": 4}


def test_reference_keywords_accepted_as_no_ops():
    """0.32.4's run()/PipelineExecutor took worker_shutdown_*: accepted by name."""
    result = run(PIPE, P(), worker_shutdown_poll_seconds=0.1,
                 worker_shutdown_log_every_seconds=1.0, worker_shutdown_log_grace_seconds=0.5)
    assert result.outputs == {"double": 4}


def test_ray_runner_calls_progress():
    """``progress=`` was swallowed by the Ray runner; it is now called like in-process."""
    seen = []
    ray_debug(PIPE, P(), progress=seen.append)
    assert seen and seen[0].dag.name == "kw"


# -- one frozen options object per executor (issue 27, item 4) ----------------------------
def options_classes():
    from synaflow.distributed.driver import RayOptions, RayPipelineExecutor
    from synaflow.engine.options import RunnerOptions
    from synaflow.execution.sync_engine.executor import SyncOptions

    return [(PipelineExecutor, SyncOptions, {}),
            (AsyncPipelineExecutor, RunnerOptions, {}),
            (RayPipelineExecutor, RayOptions, {"debug": True})]


@pytest.mark.parametrize("index", range(3), ids=["sync", "async", "ray"])
def test_executor_holds_one_frozen_options_object(index):
    import dataclasses

    executor_class, options_class, extra = options_classes()[index]
    ex = executor_class(PIPE, stall_timeout=7.0, grace=0.25, **extra)
    assert type(ex.options) is options_class
    assert (ex.options.stall_timeout, ex.options.grace) == (7.0, 0.25)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.options.grace = 1.0  # type: ignore[misc]
    # an options object, with keywords replacing its fields
    given = options_class(stall_timeout=3.0, **extra)
    ex = executor_class(PIPE, given, grace=0.125)
    assert (ex.options.stall_timeout, ex.options.grace) == (3.0, 0.125)
    assert given.grace == 0.5  # the caller's object is not changed


@pytest.mark.parametrize("index", range(3), ids=["sync", "async", "ray"])
def test_options_of_another_runner_are_refused(index):
    executor_class, _, extra = options_classes()[index]
    with pytest.raises(TypeError, match=r"options must be a \w+Options, found dict"):
        executor_class(PIPE, {"grace": 1.0}, **extra)


def test_run_functions_take_an_options_object():
    from synaflow.distributed import ray_run
    from synaflow.distributed.driver import RayOptions
    from synaflow.engine.options import RunnerOptions
    from synaflow.execution.sync_engine.executor import SyncOptions

    assert run(PIPE, P(5), options=SyncOptions(grace=0.1)).outputs == {"double": 10}
    assert asyncio.run(async_run(PIPE, P(5), options=RunnerOptions(grace=0.1))
                       ).outputs == {"double": 10}
    assert ray_run(PIPE, P(5), options=RayOptions(debug=True)).outputs == {"double": 10}
    # check_types from the object is applied: a step returning the wrong type fails
    def wrong(n: int) -> int:
        return str(n)  # type: ignore[return-value]

    bad = pipeline(name="bad", params=P, steps=[step("wrong", fn=wrong)])
    assert run(bad, P(1)).steps["wrong"].status == "ok"
    result = run(bad, P(1), options=SyncOptions(check_types=True))
    assert result.steps["wrong"].status == "error"
    assert result.steps["wrong"].errors == 1
