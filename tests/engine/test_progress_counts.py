"""Progress shows true counts while an EACH step runs (issue 23, item 7): the sync
runner used to publish its row count every 256 rows, so 200 slow items showed
"running 0" until the step ended."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from synaflow import async_run, pipeline, run, step


class Items(NamedTuple):
    items: list[int] = list(range(40))


def slow(item: int) -> int:
    time.sleep(0.03)
    return item


def total(slow: list[int]) -> int:
    return sum(slow)


SLOW = pipeline(name="slow_rows", params=Items, steps=[step("slow", fn=slow),
                                                       step("total", fn=total)])


def counts_seen(runner) -> list[int]:
    seen: list[int] = []

    def progress(core) -> None:
        tracker = core.trackers.get("slow")
        if tracker is not None:
            seen.append(tracker.success)

    result = runner(progress)
    assert result.outputs == {"total": sum(range(40))}
    return seen


@pytest.mark.parametrize("name", ["sync", "async", "ray-debug"])
def test_counts_move_while_rows_run(name):
    """``ray-debug``: the plain debug mode runs its tasks on threads, so its loop (and
    the display) goes on while a batch runs (issue 23, item 7)."""
    if name == "sync":
        seen = counts_seen(lambda progress: run(SLOW, Items(), progress=progress))
    elif name == "ray-debug":
        from synaflow.distributed import ray_run

        seen = counts_seen(lambda progress: ray_run(SLOW, Items(), debug=True,
                                                    progress=progress))
    else:
        seen = counts_seen(lambda progress: asyncio.run(
            async_run(SLOW, Items(), progress=progress)))
    # 40 rows of 30 ms and a poll about every 0.1 s: several counts between 0 and 40.
    between = sorted({c for c in seen if 0 < c < 40})
    assert len(between) >= 3, seen
    assert seen == sorted(seen)


def numbers(n: int) -> Iterator[int]:
    for i in range(n):
        time.sleep(0.03)
        yield i


def fast_each(number: int) -> int:
    return number


def count(fast_each: list[int]) -> int:
    return len(fast_each)


class N(NamedTuple):
    n: int = 30


def test_generator_counts_move_and_in_flight_fills():
    """A generator's count is live too, so the display shows it and the in-flight
    column of its EACH reader (produced, not yet processed) has a figure."""
    from synaflow.cli.progress import ProgressBoard

    p = pipeline(name="gen_rows", params=N, steps=[step("numbers", fn=numbers),
                                                   step("fast_each", fn=fast_each),
                                                   step("count", fn=count)])
    board = ProgressBoard(list(p.dag.steps))
    produced, in_flight = [], []

    def progress(core) -> None:
        board.poll(core)
        produced.append(board.rows["numbers"].items)
        in_flight.append(board.rows["fast_each"].in_flight)

    run(p, N(), progress=progress)
    assert len({c for c in produced if c and 0 < c < 30}) >= 3, produced
    assert any(f != "-" for f in in_flight), in_flight
