"""Driver scripts for ``test_ray_connect.py``, run in a subprocess against a cluster.

A Python process joins one Ray at a time and the test session already runs its own
embedded Ray, so every scenario here runs as ``python ray_connect_driver.py
SCENARIO [ADDRESS]`` and prints one JSON line. The functions live in ``__main__``,
which Ray ships by value, so the cluster needs no copy of this file.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from synaflow import pipeline, step
from synaflow.distributed import ray_run


class Xs(NamedTuple):
    xs: list[int]


def assigned(xs: int) -> tuple:
    """What Ray gave the worker running this row."""
    import ray

    ctx = ray.get_runtime_context()
    return (xs, sorted(ctx.get_assigned_resources()), ray.get_gpu_ids(),
            os.environ.get("CUDA_VISIBLE_DEVICES"))


def letters(xs: list[int]) -> Iterator[str]:
    for x in xs:
        yield "abcdefgh"[x % 8]


def joined(letters: Iterator[str]) -> str:
    return "".join(letters)


def basic() -> Any:
    """A generator (pooled actor), an ALL stream reader (pooled actor), and tasks."""
    return pipeline(name="basic", params=Xs, steps=[
        step("letters", fn=letters), step("joined", fn=joined)])


def with_options(**ray: Any) -> Any:
    return pipeline(name="resourced", params=Xs, steps=[step("assigned", fn=assigned,
                                                             ray=ray)])


# -- max_concurrency: rows of one replica run side by side ---------------------------------
class Gate:
    """A replica's resource: counts the rows inside the step at the same time. Each row
    waits (bounded) until ``want`` rows are inside, so the peak is reached without
    relying on timing when the replica really runs that many at once."""

    def __init__(self, want: int = 4) -> None:
        self.cond = threading.Condition()
        self.inside = 0
        self.peak = 0
        self.want = want

    def visit(self) -> int:
        with self.cond:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.peak >= self.want, timeout=20)
            self.inside -= 1
            return self.peak


def make_gate() -> Gate:
    return Gate()


def crowded(xs: int, gate: Gate) -> int:
    return gate.visit()


def concurrent(max_concurrency: int) -> Any:
    return pipeline(name="crowd", params=Xs, resources={"gate": make_gate}, steps=[
        step("crowded", fn=crowded, ray={"max_concurrency": max_concurrency,
                                         "batch_size": 1})])


# -- scenarios --------------------------------------------------------------------------
def connect(address: str | None) -> dict:
    """Two runs on a running cluster (``address=`` or ``RAY_ADDRESS``)."""
    import ray

    first = ray_run(basic(), Xs([0, 1, 2]), address=address).outputs["joined"]
    second = ray_run(basic(), Xs([3, 4]), address=address).outputs["joined"]
    return {"outputs": [first, second], "connected": ray.is_initialized(),
            "client": ray.util.client.ray.is_connected()}


def resources(address: str) -> dict:
    """Each declared resource reaches the step's tasks (or replicas)."""
    out = {}
    for key, ray_opts in (("gpu", {"num_gpus": 1}), ("special", {"resources": {"special": 1}}),
                          ("memory", {"memory": 200 * 1024 * 1024})):
        out[key] = ray_run(with_options(**ray_opts), Xs([1, 2]),
                           address=address).outputs["assigned"]
    out["peak"] = max(ray_run(concurrent(4), Xs(list(range(8))),
                              address=address).outputs["crowded"])
    return out


class Counter:
    def __init__(self) -> None:
        self.calls = 0


def make_counter() -> Counter:
    return Counter()


def counted_total(xs: list[int], counter: Counter) -> int:
    counter.calls += 1
    return sum(xs) * counter.calls


def with_resources(address: str) -> dict:
    """A value step with a resource (a streaming task on Ray), its events in order."""
    from synaflow import Observer

    events = []
    p = pipeline(name="resourced_value", params=Xs, resources={"counter": make_counter},
                 steps=[step("counted_total", fn=counted_total)],
                 observers=[Observer(lambda ctx: events.append(ctx.event.value))])
    out = ray_run(p, Xs([1, 2, 3]), address=address).outputs
    return {"outputs": out, "events": events}


def restarted(address: str | None = None) -> dict:
    """Runs on a local Ray, on a second one after ``ray.shutdown()`` in the same
    process (its first job has the same id), and on a third started by the runner."""
    import ray

    outputs = []
    for _ in range(2):
        ray.init(address="local", num_cpus=1, include_dashboard=False,
                 logging_level="ERROR")
        outputs.append(ray_run(basic(), Xs([0, 1, 2])).outputs["joined"])
        ray.shutdown()
    outputs.append(ray_run(basic(), Xs([3]), ray_init={"num_cpus": 1}).outputs["joined"])
    return {"outputs": outputs, "left_running": ray.is_initialized()}


def long_row(xs: int, marks: str) -> int:
    """Row 0 fails after half a second; the others spin for 30 s unless stopped."""
    import time

    if xs == 0:
        time.sleep(0.5)
        raise RuntimeError("first row fails")
    open(os.path.join(marks, f"started-{xs}"), "w").close()
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pass
    except BaseException as exc:
        open(os.path.join(marks, f"stopped-{xs}-{type(exc).__name__}"), "w").close()
        raise
    open(os.path.join(marks, f"done-{xs}"), "w").close()
    return xs


class Marked(NamedTuple):
    xs: list[int]
    marks: str


def stopped(address: str, marks: str) -> dict:
    """A failing run stops its long rows on the cluster (through Ray Client too)."""
    import time

    from synaflow import OnError

    p = pipeline(name="stopped", params=Marked, steps=[
        step("long_row", fn=long_row, on_error=OnError.STOP, ray={"batch_size": 1})])
    try:
        ray_run(p, Marked([0, 1, 2], marks), address=address)
        error = None
    except Exception as exc:
        error = type(exc).__name__
    deadline = time.monotonic() + 20
    while True:
        names = sorted(os.listdir(marks))
        started = {n.split("-")[1] for n in names if n.startswith("started-")}
        ended = {n.split("-")[1] for n in names if n.startswith(("stopped-", "done-"))}
        if (started and started <= ended) or time.monotonic() > deadline:
            return {"error": error, "marks": names}
        time.sleep(0.2)


def infeasible(address: str) -> dict:
    try:
        ray_run(with_options(resources={"tpu_pod": 1}), Xs([1]), address=address)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"error": None}


def names(address: str) -> dict:
    """What the dashboard's state API lists for two runs' actors and tasks."""
    import time

    import ray
    from ray.util.state import list_actors, list_tasks

    ray_run(basic(), Xs([0, 1]), address=address)
    ray_run(basic(), Xs([2]), address=address)
    job = ray.get_runtime_context().get_job_id()
    mine = [("job_id", "=", job)]
    actors = [a.name for a in list_actors(address=address, filters=mine)]
    # Workers report task events about once a second: wait until the ones of the
    # second run (its ``release`` calls come last) are in.
    deadline = time.monotonic() + 60
    while True:
        tasks = [t.name for t in list_tasks(address=address, filters=mine, limit=1000)]
        if tasks.count("basic.joined.release") >= 2 or time.monotonic() > deadline:
            return {"actors": actors, "tasks": tasks}
        time.sleep(0.5)


if __name__ == "__main__":
    scenario, *args = sys.argv[1:]
    try:
        result = globals()[scenario](*(args or [None]))
    except Exception as exc:
        result = {"error": type(exc).__name__, "message": str(exc)}
    print(json.dumps(result))
