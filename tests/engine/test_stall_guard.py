"""``StallGuard`` with an injected clock: a hang becomes a report, never a sleep."""
from __future__ import annotations

import itertools
from typing import NamedTuple

import pytest

from synaflow.core.exceptions import StallError
from synaflow.engine.stall import StallGuard
from synaflow.execution.sync_engine.executor import PipelineExecutor
from synaflow.testing.scenarios import sequential_reader


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _guard(**kw) -> tuple[StallGuard, FakeClock]:
    clock = FakeClock()
    return StallGuard(clock=clock, **kw), clock


def test_deadlock_after_grace():
    """Every worker waits and nothing moves: reported once ``grace`` has passed."""
    guard, clock = _guard(grace=0.5)
    guard.wait_begins("a", "step 'a' waits: handoff src->b full (1/1 in flight)")
    guard.wait_begins("b", "step 'b' waits: 'src' is producing the next item")
    assert guard.check(2) is None
    clock.advance(0.49)
    assert guard.check(2) is None
    clock.advance(0.01)
    message = guard.check(2)
    assert message is not None
    assert message.startswith("Deadlock: every running step has waited 0.5 s")


def test_no_deadlock_while_one_worker_runs():
    """A worker that is not waiting can still wake the others: no report, however long."""
    guard, clock = _guard(grace=0.5)
    guard.wait_begins("a", "step 'a' waits")
    guard.check(2)
    clock.advance(3600)
    assert guard.check(2) is None


def test_no_workers_no_deadlock():
    guard, clock = _guard(grace=0.1)
    guard.check(0)
    clock.advance(10)
    assert guard.check(0) is None


def test_progress_resets_the_wait():
    """Waits that end (items move) are progress: all-waiting snapshots are not a stall."""
    guard, clock = _guard(grace=0.5)
    guard.wait_begins("a", "step 'a' waits")
    assert guard.check(1) is None
    for _ in range(20):
        clock.advance(0.3)
        guard.wait_ends("a")
        guard.wait_begins("a", "step 'a' waits")
        assert guard.check(1) is None
    clock.advance(0.3)
    assert guard.check(1) is None  # 0.3 s since the last progress
    clock.advance(0.2)
    assert guard.check(1) is not None


def test_progress_counter_counts():
    guard, clock = _guard(grace=0.5)
    guard.wait_begins("a", "x")
    guard.check(1)
    clock.advance(0.4)
    guard.progress += 1  # a hand-off moved an item without anyone waiting
    assert guard.check(1) is None
    clock.advance(0.4)
    assert guard.check(1) is None
    clock.advance(0.1)
    assert guard.check(1) is not None


def test_wait_ends_removes_waiter():
    guard, clock = _guard(grace=0.5)
    guard.wait_begins("a", "step 'a' waits")
    guard.wait_begins("b", "step 'b' waits")
    guard.wait_ends("b")
    assert list(guard.waiting) == ["a"]
    assert guard.progress == 1
    guard.check(2)
    clock.advance(5)
    assert guard.check(2) is None  # 'b' is busy, not waiting


def test_stall_timeout_without_waiters():
    """``stall_timeout`` fails a run where nothing progresses, even if nobody waits."""
    guard, clock = _guard(grace=0.5, stall_timeout=30)
    assert guard.check(3) is None
    clock.advance(29.9)
    assert guard.check(3) is None
    clock.advance(0.1)
    message = guard.check(3)
    assert message is not None and message.startswith("No progress for 30 s")
    assert "no step is waiting" in message


def test_stall_timeout_restarts_on_progress():
    guard, clock = _guard(stall_timeout=10)
    guard.check(1)
    clock.advance(9)
    guard.wait_ends("anything")
    assert guard.check(1) is None
    clock.advance(9)
    assert guard.check(1) is None
    clock.advance(1)
    assert guard.check(1) is not None


def test_no_stall_timeout_by_default():
    guard, clock = _guard()
    guard.check(1)
    clock.advance(1e6)
    assert guard.check(1) is None


def test_description_names_blocked():
    """The report says which hand-off is full and how to fix it (STYLE.md message shape)."""
    guard, clock = _guard(grace=0.2)
    guard.wait_begins(1, "step 'b' waits: handoff src->a full (2/2 in flight)")
    guard.wait_begins(2, "step 'a' waits: 'src' is producing the next item")
    guard.wait_begins(3, "step 'b' waits: handoff src->a full (2/2 in flight)")
    guard.check(3)
    clock.advance(0.2)
    message = guard.check(3)
    blocked = message.split("Blocked: ", 1)[1]
    # sorted and de-duplicated
    assert blocked.startswith("step 'a' waits: 'src' is producing the next item; "
                              "step 'b' waits: handoff src->a full (2/2 in flight).")
    assert blocked.count("handoff src->a full") == 1
    for words in ("max_in_flight", "zip", "list[...]", "stall_timeout"):
        assert words in message


# -- the guard inside a run, still without sleeping -----------------------------------


class N(NamedTuple):
    n: int


_sequential_reader = sequential_reader


def test_executor_uses_injected_clock():
    """A grace of an hour on a clock that jumps 20 minutes per reading: the deadlock is
    reported after a few real ticks, so the guard reads the injected clock."""
    ticks = itertools.count(0.0, 1200.0)
    executor = PipelineExecutor(_sequential_reader(), grace=3600.0,
                                clock=lambda: next(ticks))
    with pytest.raises(StallError) as info:
        executor.execute(N(10))
    assert "handoff numbers->right full (1/1 in flight)" in str(info.value)
    assert "Pipeline 'seq_reader'" in str(info.value)
