"""A call blocked in C code is freed when its run ends, and never runs again (issue 24,
item 2). Before, after a StallError the stuck call held its CPU for as long as the
driver lived, and killing its worker by hand made Ray run the batch again after the
run had ended.
"""
from __future__ import annotations

import sys
import time
from typing import NamedTuple

import pytest
from ray import cloudpickle

from synaflow import StallError, pipeline, step
from synaflow.distributed import ray_run

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers lack test files


class Calls(NamedTuple):
    log: str
    items: list[int] = [0, 1, 2, 3]


def hangs_on_one(items: int, log: str) -> int:
    with open(log, "a") as out:
        out.write(f"{items}\n")
    if items == 1:
        time.sleep(120)  # blocked in C: no exception reaches it
    return items


def total(hangs_on_one: list[int]) -> int:
    return sum(hangs_on_one)


def free_cpus(ray) -> float:
    return ray.available_resources().get("CPU", 0.0)


def test_hung_call_freed_and_not_retried(ray_session, tmp_path):
    ray = ray_session
    total_cpus = ray.cluster_resources()["CPU"]
    log = tmp_path / "calls.txt"
    p = pipeline(name="hung", params=Calls, steps=[step("hangs_on_one", fn=hangs_on_one),
                                                    step("total", fn=total)])
    with pytest.raises(StallError, match="step 'hangs_on_one' is busy in a call on item 1"):
        ray_run(p, Calls(log=str(log)), stall_timeout=1.0)
    deadline = time.monotonic() + 20
    while free_cpus(ray) < total_cpus and time.monotonic() < deadline:
        time.sleep(0.2)
    assert free_cpus(ray) == total_cpus, "the hung call still holds its CPU"
    time.sleep(2.0)  # time enough for Ray's retry of the lost worker's task to start
    runs = log.read_text().split()
    assert runs.count("1") == 1, f"item 1 ran again after the run ended: {runs}"
