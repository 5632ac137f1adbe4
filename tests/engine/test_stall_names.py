"""A stall from stall_timeout names the busy step, how long, and its item, on every
runner (issue 24, item 1). Before: "Blocked: no step is waiting on a hand-off (a step
is busy)", with no name."""
from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

import pytest

from synaflow import StallError, async_run, pipeline, run, step


class Rows(NamedTuple):
    items: list[int] = [0, 1, 2, 3]


def stuck_on_two(item: int) -> int:
    if item == 2:
        time.sleep(2.0)
    return item


def stuck_call(items: list[int]) -> int:
    time.sleep(2.0)
    return len(items)


def collect(stuck_on_two: list[int]) -> int:
    return len(stuck_on_two)


EACH = pipeline(name="logs_each", params=Rows, steps=[step("stuck_on_two", fn=stuck_on_two),
                                                      step("collect", fn=collect)])
VALUE = pipeline(name="logs_value", params=Rows, steps=[step("stuck_call", fn=stuck_call)])


def ray_debug(p, **kw):
    from synaflow.distributed import ray_run

    return ray_run(p, Rows(), debug=True, **kw)  # plain debug: calls on threads


RUNNERS = {"sync": lambda p, **kw: run(p, Rows(), **kw),
           "async": lambda p, **kw: asyncio.run(async_run(p, Rows(), **kw)),
           "ray-debug": ray_debug}


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_stall_names_the_busy_each_step_and_item(runner_name):
    with pytest.raises(StallError) as info:
        RUNNERS[runner_name](EACH, stall_timeout=0.4)
    text = str(info.value)
    assert ("Blocked: step 'stuck_on_two' is busy in a call on item 2, with no progress "
            "for 0.4 s") in text, text
    assert "a step is busy)" not in text


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_stall_names_the_busy_value_step(runner_name):
    with pytest.raises(StallError, match="Blocked: step 'stuck_call' is busy in its call"):
        RUNNERS[runner_name](VALUE, stall_timeout=0.4)
