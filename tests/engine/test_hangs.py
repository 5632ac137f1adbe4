"""Every deadlock and hang of 0.32.4 (spec README "Deadlocks and hangs not caught at
build time", 03 §6.2) either completes or ends with an error naming what is blocked,
on the sync runner, the asyncio runner (sync pipeline) and the asyncio runner on
async steps.

Every run goes through ``within``: it runs in a watchdog thread, and a run still
going after the limit fails the test instead of hanging the suite. Steps that are
"stuck" wait on an event the test releases in ``finally``.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import pytest

from synaflow.testing.scenarios import (Downloader, no_network, numbers,  # noqa: F401
                                       sequential_reader, urls)

from synaflow import Observer, OnError, pipeline, step
from synaflow.core.exceptions import PipelineStopException, StallError
from synaflow.execution.async_engine.executor import AsyncPipelineExecutor, async_run
from synaflow.execution.sync_engine.executor import PipelineExecutor
from synaflow.testing.asyncify import asyncify

RUNNERS = ["sync", "asyncio", "async-native"]
WATCHDOG = 5.0


class N(NamedTuple):
    n: int


def execute(kind: str, p: Any, params: Any, **options: Any) -> Any:
    """Run ``p`` on one runner; ``async-native`` runs the generated async twin."""
    if kind == "sync":
        return PipelineExecutor(p, **options).execute(params)
    if kind == "async-native" and not p.dag.requires_async_runner:
        p = asyncify(p)
    return asyncio.run(AsyncPipelineExecutor(p, **options).execute(params))


class Finished(NamedTuple):
    value: Any
    error: BaseException | None
    elapsed: float


def within(seconds: float, fn: Any, *args: Any, **kwargs: Any) -> Finished:
    """Call ``fn`` in a watchdog thread; fail if it has not returned after ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # reported to the test below
            box["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True, name="watchdog")
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the run hangs: still going after {seconds} s"
    return Finished(box.get("value"), box.get("error"), time.monotonic() - start)


def leftover_threads(before: set, limit: float = 2.0) -> list[str]:
    """Names of synaflow threads started since ``before`` (a ``threading.enumerate()``
    snapshot) still alive after waiting up to ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        names = [t.name for t in threading.enumerate()
                 if t.name.startswith("synaflow-") and t not in before]
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(0.02)


# -- (a) one step reads two branches of one fan-out one after the other ---------------


@pytest.mark.parametrize("mif", [1, 9])
@pytest.mark.parametrize("kind", RUNNERS)
def test_sequential_siblings_stall(kind, mif):
    """``list(left)`` then ``list(right)`` over 10 items with ``max_in_flight`` < 10:
    the hand-off to 'right' fills while nobody reads it. 0.32.4 hung; here a
    StallError names the full hand-off after the grace period."""
    done = within(WATCHDOG, execute, kind, sequential_reader(mif), N(10), grace=0.2)
    assert isinstance(done.error, StallError), done
    message = str(done.error)
    assert "Pipeline 'seq_reader'" in message
    assert f"handoff numbers->right full ({mif}/{mif} in flight)" in message
    assert "max_in_flight" in message
    assert done.elapsed < 3.0


@pytest.mark.parametrize("kind", RUNNERS)
def test_stall_not_charged_to_reader(kind):
    """The StallError that ends the run passes through the reading step's code: it is
    not that step's failure (no error report, no StepEvent.FAILED); the pipeline's
    FAILED event carries it and comes last."""
    reports: list = []
    events: list = []
    p = pipeline(name="seq_reader", params=N, error_materializer=reports.append,
                 observers=[Observer(events.append)], steps=list(sequential_reader(1).steps))
    done = within(WATCHDOG, execute, kind, p, N(10), grace=0.2)
    assert isinstance(done.error, StallError), done
    assert reports == []
    assert [e.event.value for e in events].count("step_failed") == 0
    assert events[-1].event.value == "pipeline_failed"
    assert events[-1].exception is done.error


@pytest.mark.parametrize("mif", [10, 11])
@pytest.mark.parametrize("kind", RUNNERS)
def test_sequential_siblings_fit(kind, mif):
    """With ``max_in_flight`` >= the stream length the same topology completes (at
    exactly the length too: one more item may be pulled for an unread branch, so
    'left' sees the end of the stream)."""
    done = within(WATCHDOG, execute, kind, sequential_reader(mif), N(10), grace=0.2)
    assert done.error is None, done.error
    assert done.value.outputs == {"one_after_other": (list(range(10)),
                                                      [-i for i in range(10)])}


# -- (b) a fan-out consumer that never reads -------------------------------------------


def broken_config(n: int) -> int:
    raise ValueError("config unavailable")


def scaled(numbers: Iterator[int], broken_config: int) -> list:
    return [x * broken_config for x in numbers]


def total(numbers: Iterator[int]) -> int:
    return sum(numbers)


def gives_up(numbers: Iterator[int]) -> int:
    raise KeyError("gives up before reading")


def ignores(numbers: Iterator[int]) -> int:
    return -1


def squared(numbers: int) -> int:
    return numbers * numbers


def uses_squares(squared: Iterator[int], broken_config: int) -> int:
    return sum(squared)


TOTAL_40 = sum(range(40))


def _skipped_consumer():
    return pipeline(name="skipped_consumer", params=N, steps=[
        step("numbers", fn=numbers), step("broken_config", fn=broken_config),
        step("scaled", fn=scaled), step("total", fn=total)])


def _skipped_chain():
    return pipeline(name="skipped_chain", params=N, steps=[
        step("numbers", fn=numbers), step("broken_config", fn=broken_config),
        step("squared", fn=squared), step("uses_squares", fn=uses_squares),
        step("total", fn=total)])


def _gives_up():
    return pipeline(name="gives_up", params=N, steps=[
        step("numbers", fn=numbers), step("gives_up", fn=gives_up), step("total", fn=total)])


def _ignores():
    return pipeline(name="ignores", params=N, steps=[
        step("numbers", fn=numbers), step("ignores", fn=ignores), step("total", fn=total)])


@pytest.mark.parametrize("kind", RUNNERS)
def test_skipped_consumer_releases_branch(kind):
    """'scaled' never starts ('broken_config' failed under CONTINUE): its branch is
    released and 'total' gets every item (0.32.4 hung)."""
    done = within(WATCHDOG, execute, kind, _skipped_consumer(), N(40), grace=0.3)
    assert done.error is None, done.error
    result = done.value
    assert result.status == "completed_with_errors"
    assert result.outputs == {"total": TOTAL_40}
    assert result.steps["scaled"].status == "skipped"
    assert "broken_config" in result.steps["scaled"].reason
    assert result.steps["broken_config"].status == "error"


@pytest.mark.parametrize("kind", RUNNERS)
def test_skipped_reader_upstream_released(kind):
    """The skipped step reads the fan-out through a lazy EACH step ('squared'): that
    step's branch is released too."""
    done = within(WATCHDOG, execute, kind, _skipped_chain(), N(40), grace=0.3)
    assert done.error is None, done.error
    assert done.value.outputs == {"total": TOTAL_40}
    assert done.value.status == "completed_with_errors"


@pytest.mark.parametrize("kind", RUNNERS)
def test_consumer_failing_before_reading(kind):
    """A consumer that raises before reading its branch (CONTINUE) closes it."""
    done = within(WATCHDOG, execute, kind, _gives_up(), N(40), grace=0.3)
    assert done.error is None, done.error
    assert done.value.status == "completed_with_errors"
    assert done.value.outputs == {"total": TOTAL_40}


@pytest.mark.parametrize("kind", RUNNERS)
def test_consumer_returning_without_reading(kind):
    """A consumer that returns without reading its branch closes it."""
    done = within(WATCHDOG, execute, kind, _ignores(), N(40), grace=0.3)
    assert done.error is None, done.error
    assert done.value.status == "succeeded"
    assert done.value.outputs == {"ignores": -1, "total": TOTAL_40}


def first_reader(squared: Iterator[int]) -> int:
    return 1


def second_reader(squared: Iterator[int]) -> int:
    return 2


@pytest.mark.parametrize("kind", RUNNERS)
def test_fanout_nobody_reads_released_upstream(kind):
    """'squared' (a lazy EACH over one branch of 'numbers') fans out to two readers that
    both return without reading: nobody will pull 'squared' again, so its own branch of
    'numbers' is released too and 'total' gets every item."""
    p = pipeline(name="nobody_reads", params=N, steps=[
        step("numbers", fn=numbers), step("squared", fn=squared),
        step("first_reader", fn=first_reader), step("second_reader", fn=second_reader),
        step("total", fn=total)])
    done = within(WATCHDOG, execute, kind, p, N(40), grace=0.3)
    assert done.error is None, done.error
    assert done.value.outputs == {"first_reader": 1, "second_reader": 2, "total": TOTAL_40}


async def a_numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def a_total(a_numbers: AsyncIterator[int]) -> int:
    return sum([x async for x in a_numbers])


async def a_gives_up(a_numbers: AsyncIterator[int]) -> int:
    raise KeyError("gives up before reading")


async def a_ignores(a_numbers: AsyncIterator[int]) -> int:
    return -1


@pytest.mark.parametrize("early", [a_gives_up, a_ignores])
def test_async_consumer_not_reading(early):
    """The same with real async steps (asyncify reads stream parameters first, so it
    cannot express a consumer that never reads)."""
    p = pipeline(name="a_early", params=N, steps=[
        step("a_numbers", fn=a_numbers), step(early.__name__, fn=early),
        step("a_total", fn=a_total)])
    done = within(WATCHDOG, execute, "asyncio", p, N(40), grace=0.3)
    assert done.error is None, done.error
    assert done.value.outputs["a_total"] == TOTAL_40


# -- (c) 0.32.4's Python 3.11 hang: a resource fails for an EACH step of a stream -----


async def fetch(url: str, downloader: Downloader) -> str:
    return url.upper()


async def count_urls(urls: AsyncIterator[str]) -> int:
    return len([u async for u in urls])


async def stored(fetch: AsyncIterator[str]) -> int:
    count = 0
    async for _ in fetch:
        await asyncio.sleep(0.005)  # a slow consumer
        count += 1
    return count


def _downloads(mif: int, *, fanout: bool):
    steps = [step("urls", fn=urls, max_in_flight=mif), step("fetch", fn=fetch, max_in_flight=mif),
             step("stored", fn=stored)]
    if fanout:
        steps.insert(2, step("count_urls", fn=count_urls))
    return pipeline(name="downloads", params=N, steps=steps,
                    resources={"downloader": no_network})


@pytest.mark.parametrize("mif", [1, 4])
@pytest.mark.parametrize("fanout", [False, True], ids=["single", "fanout"])
def test_resource_failure_in_each_raises(mif, fanout):
    """0.32.4 hung forever on 3.11; here ``async_run`` raises the ConnectionError."""
    p = _downloads(mif, fanout=fanout)
    done = within(WATCHDOG, lambda: asyncio.run(async_run(p, N(50))))
    assert isinstance(done.error, ConnectionError), done
    assert "no route to host" in str(done.error)
    assert done.elapsed < 1.5


def test_missing_resource_raises():
    """The reference's own test: no resource factories at all."""
    p = _downloads(2, fanout=False)
    ex = AsyncPipelineExecutor(p.dag, resource_factories={})
    done = within(WATCHDOG, lambda: asyncio.run(ex.execute(N(50))))
    assert isinstance(done.error, ValueError), done
    assert "requires resource 'downloader'" in str(done.error)


def sync_urls(n: int) -> Iterator[str]:
    for i in range(n):
        yield f"u{i}"


def sync_fetch(sync_urls: str, downloader: Downloader) -> str:
    return sync_urls


def sync_stored(sync_fetch: Iterator[str]) -> int:
    return sum(1 for _ in sync_fetch)


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_resource_failure_sync_pipeline(kind):
    p = pipeline(name="sync_downloads", params=N, resources={"downloader": no_network},
                 steps=[step("sync_urls", fn=sync_urls, max_in_flight=3),
                        step("sync_fetch", fn=sync_fetch), step("sync_stored", fn=sync_stored)])
    done = within(WATCHDOG, execute, kind, p, N(50))
    assert isinstance(done.error, ConnectionError), done


# -- (d) STOP in one branch while a sibling is mid-stream ----------------------------------

PRODUCED: list[int] = []


def counted(n: int) -> Iterator[int]:
    for i in range(n):
        PRODUCED.append(i)
        yield i


def strict(counted: int) -> int:
    if counted == 3:
        raise ValueError("item 3 is invalid")
    return counted


def slow(counted: int) -> int:
    time.sleep(0.005)
    return counted


def strict_sum(strict: Iterator[int]) -> int:
    return sum(strict)


def slow_sum(slow: Iterator[int]) -> int:
    return sum(slow)


def _stop_midstream():
    return pipeline(name="stop_midstream", params=N, steps=[
        step("counted", fn=counted, max_in_flight=2),
        step("strict", fn=strict, on_error=OnError.STOP), step("slow", fn=slow),
        step("strict_sum", fn=strict_sum), step("slow_sum", fn=slow_sum)])


@pytest.mark.parametrize("kind", RUNNERS)
def test_stop_ends_siblings(kind):
    """The STOP raises promptly; the sibling branch stops reading (the producer does not
    run on to 400 items) and no synaflow thread is left behind."""
    PRODUCED.clear()
    before = set(threading.enumerate())
    done = within(WATCHDOG, execute, kind, _stop_midstream(), N(400))
    assert isinstance(done.error, PipelineStopException), done
    assert done.error.step_name == "strict"
    assert isinstance(done.error.__cause__, ValueError)
    assert done.elapsed < 1.5  # 400 slow items would take > 2 s
    assert len(PRODUCED) < 50
    assert leftover_threads(before) == []


async def a_counted(n: int) -> AsyncIterator[int]:
    for i in range(n):
        PRODUCED.append(i)
        yield i


async def a_strict(a_counted: int) -> int:
    if a_counted == 3:
        raise ValueError("item 3 is invalid")
    return a_counted


async def a_slow(a_counted: int) -> int:
    await asyncio.sleep(0.005)
    return a_counted


async def a_strict_sum(a_strict: AsyncIterator[int]) -> int:
    return sum([x async for x in a_strict])


async def a_slow_sum(a_slow: AsyncIterator[int]) -> int:
    return sum([x async for x in a_slow])


def test_stop_cancels_async_siblings():
    """Async steps: when ``async_run`` raises, no task of the run is still running
    (0.32.4 returned at once and left the siblings running)."""
    p = pipeline(name="a_stop", params=N, steps=[
        step("a_counted", fn=a_counted, max_in_flight=2),
        step("a_strict", fn=a_strict, on_error=OnError.STOP), step("a_slow", fn=a_slow),
        step("a_strict_sum", fn=a_strict_sum), step("a_slow_sum", fn=a_slow_sum)])

    async def main() -> set:
        with pytest.raises(PipelineStopException):
            await async_run(p, N(400))
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    PRODUCED.clear()
    done = within(WATCHDOG, lambda: asyncio.run(main()))
    assert done.error is None, done.error
    assert done.value == set()
    assert len(PRODUCED) < 50


# -- (e) a step stuck in user code after a fatal error elsewhere --------------------------

RELEASE = threading.Event()


def stuck(n: int) -> int:
    RELEASE.wait(30)
    return n


def fails_hard(n: int) -> int:
    time.sleep(0.05)
    raise RuntimeError("fatal elsewhere")


def _stuck_and_failing():
    return pipeline(name="stuck_and_failing", params=N, steps=[
        step("stuck", fn=stuck), step("fails_hard", fn=fails_hard, on_error=OnError.STOP)])


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_stuck_step_does_not_hold_the_error(kind):
    """'stuck' never returns; the STOP from 'fails_hard' is raised after a bounded wait
    (0.32.4 waited for every worker, forever)."""
    RELEASE.clear()
    before = set(threading.enumerate())
    try:
        done = within(WATCHDOG, execute, kind, _stuck_and_failing(), N(1), grace=0.2)
        assert isinstance(done.error, PipelineStopException), done
        assert done.error.step_name == "fails_hard"
        assert done.elapsed < 3.5
    finally:
        RELEASE.set()
    assert leftover_threads(before) == []


async def a_stuck(n: int) -> int:
    await asyncio.Event().wait()  # nobody ever sets it
    return n


async def a_fails_hard(n: int) -> int:
    await asyncio.sleep(0.05)
    raise RuntimeError("fatal elsewhere")


def test_stuck_async_step_is_cancelled():
    p = pipeline(name="a_stuck", params=N, steps=[
        step("a_stuck", fn=a_stuck), step("a_fails_hard", fn=a_fails_hard,
                                           on_error=OnError.STOP)])
    done = within(WATCHDOG, execute, "asyncio", p, N(1))
    assert isinstance(done.error, PipelineStopException), done
    assert done.elapsed < 1.0


# -- (f) a stuck run does not block another one -------------------------------------------


def quick(n: int) -> int:
    return n + 1


def _quick():
    return pipeline(name="quick", params=N, steps=[step("quick", fn=quick)])


def _stuck_only():
    return pipeline(name="stuck_only", params=N, steps=[step("stuck", fn=stuck)])


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_stuck_run_does_not_block_others(kind):
    """Run 1 is stuck in a step; run 2 starts and ends meanwhile (0.32.4's end-of-run
    wait covered every synaflow worker thread of the process)."""
    RELEASE.clear()
    first: dict[str, Any] = {}
    t = threading.Thread(target=lambda: first.update(r=execute(kind, _stuck_only(), N(1))),
                         daemon=True)
    try:
        t.start()
        deadline = time.monotonic() + 2
        while not any(th.name == "synaflow-stuck_only-stuck" for th in threading.enumerate()):
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.01)
        done = within(WATCHDOG, execute, kind, _quick(), N(1))
        assert done.error is None and done.value.outputs == {"quick": 2}
        assert done.elapsed < 1.0
        assert t.is_alive(), "the first run should still be stuck"
    finally:
        RELEASE.set()
        t.join(WATCHDOG)
    assert first["r"].outputs == {"stuck": 1}


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
def test_leftover_worker_does_not_block_later_runs(kind):
    """A run that ended with a worker still stuck leaves a daemon thread; later runs do
    not wait for it."""
    RELEASE.clear()
    before = set(threading.enumerate())
    try:
        failed = within(WATCHDOG, execute, kind, _stuck_and_failing(), N(1), grace=0.2)
        assert isinstance(failed.error, PipelineStopException)
        assert "synaflow-stuck_and_failing-stuck" in [t.name for t in threading.enumerate()]
        done = within(WATCHDOG, execute, kind, _quick(), N(1))
        assert done.error is None and done.elapsed < 1.0
    finally:
        RELEASE.set()
    assert leftover_threads(before) == []


def test_concurrent_async_runs():
    """Two ``async_run`` in one event loop: the stuck one does not delay the other."""
    gate: dict[str, asyncio.Event] = {}

    async def waits(n: int) -> int:
        await gate["open"].wait()
        return n

    async def a_quick(n: int) -> int:
        return n + 1

    stuck_p = pipeline(name="waits", params=N, steps=[step("waits", fn=waits)])
    quick_p = pipeline(name="a_quick", params=N, steps=[step("a_quick", fn=a_quick)])

    async def main() -> tuple:
        gate["open"] = asyncio.Event()
        slow_run = asyncio.ensure_future(async_run(stuck_p, N(1)))
        start = time.monotonic()
        quick_result = await asyncio.wait_for(async_run(quick_p, N(1)), 2)
        elapsed = time.monotonic() - start
        pending = not slow_run.done()
        gate["open"].set()
        return quick_result.outputs, elapsed, pending, (await slow_run).outputs

    done = within(WATCHDOG, lambda: asyncio.run(main()))
    assert done.error is None, done.error
    quick_outputs, elapsed, pending, slow_outputs = done.value
    assert quick_outputs == {"a_quick": 2} and elapsed < 1.0 and pending
    assert slow_outputs == {"waits": 1}
