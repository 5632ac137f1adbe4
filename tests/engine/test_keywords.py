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
