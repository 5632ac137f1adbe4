"""How fast the 0.32.4 hangs end here.

    python benchmarks/bench_hangs.py

* C1/C2: the reference's two failing tests (spec README, "Known bugs"): an async
  stream feeds an EACH step whose resource cannot be built (``resource_factories={}``),
  with and without ``max_in_flight`` > 1. On Python 3.11 0.32.4 hung forever; here
  ``async_run`` must raise in under a second.
* C3: the same through the public API, a resource factory raising ``ConnectionError``,
  with a slow consumer and a fan-out.
* A1: a step reading two branches of one fan-out one after the other (03 §6.2 #1),
  ``grace=0.2``: a ``StallError`` naming the full hand-off, well under a second.

Every scenario runs in a watchdog thread (5 s), so a regression prints FAIL instead of
hanging. Prints PASS/FAIL per scenario and always exits 0: this is a report, not a test.
"""
from __future__ import annotations

import asyncio
import platform
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any, Callable, NamedTuple

from synaflow import pipeline, step
from synaflow.core.exceptions import StallError
from synaflow.execution.async_engine.executor import AsyncPipelineExecutor, async_run
from synaflow.execution.sync_engine.executor import PipelineExecutor
from synaflow.testing.scenarios import Downloader, no_network, sequential_reader, urls

WATCHDOG_S = 5.0
ROUNDS = 5


class Params(NamedTuple):
    n: int


async def fetch(url: str, downloader: Downloader) -> str:
    return url


async def url_count(urls: AsyncIterator[str]) -> int:
    return len([u async for u in urls])


async def stored(fetch: AsyncIterator[str]) -> int:
    count = 0
    async for _ in fetch:
        await asyncio.sleep(0.01)  # a slow consumer
        count += 1
    return count


def downloads(mif: int, *, fanout: bool = False) -> Any:
    steps = [step("urls", fn=urls, max_in_flight=mif),
             step("fetch", fn=fetch, max_in_flight=mif), step("stored", fn=stored)]
    if fanout:
        steps.insert(1, step("url_count", fn=url_count))
    return pipeline(name="downloads", params=Params, steps=steps,
                    resources={"downloader": no_network})


# -- scenarios: each returns the exception the run ended with ---------------------------


def c1_missing_resource_bounded() -> BaseException | None:
    ex = AsyncPipelineExecutor(downloads(4).dag, resource_factories={})
    return _raised(lambda: asyncio.run(ex.execute(Params(100))))


def c2_missing_resource_unbounded() -> BaseException | None:
    ex = AsyncPipelineExecutor(downloads(1).dag, resource_factories={})
    return _raised(lambda: asyncio.run(ex.execute(Params(100))))


def c3_factory_raises() -> BaseException | None:
    p = downloads(4, fanout=True)
    return _raised(lambda: asyncio.run(async_run(p, Params(100))))


def a1_sequential_siblings() -> BaseException | None:
    ex = PipelineExecutor(sequential_reader(), grace=0.2)
    return _raised(lambda: ex.execute(Params(100)))


def _raised(fn: Callable[[], Any]) -> BaseException | None:
    try:
        fn()
    except Exception as exc:
        return exc
    return None


# -- measuring -------------------------------------------------------------------------


def watched(fn: Callable[[], BaseException | None]) -> tuple[float, BaseException | None, bool]:
    """(seconds, what it raised, finished) with a watchdog instead of a hang."""
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.update(error=fn()), daemon=True)
    start = time.perf_counter()
    thread.start()
    thread.join(WATCHDOG_S)
    return time.perf_counter() - start, box.get("error"), not thread.is_alive()


def report(name: str, fn: Callable[[], BaseException | None], expected: type,
           limit_s: float, must_contain: str) -> bool:
    times = []
    for _ in range(ROUNDS):
        elapsed, error, finished = watched(fn)
        if not finished:
            print(f"FAIL {name}: still running after {WATCHDOG_S:.0f} s (the hang is back)")
            return False
        if not isinstance(error, expected) or must_contain not in str(error):
            print(f"FAIL {name}: expected {expected.__name__} mentioning {must_contain!r}, "
                  f"got {error!r}")
            return False
        times.append(elapsed)
    worst, median = max(times), statistics.median(times)
    verdict = "PASS" if worst < limit_s else "FAIL"
    print(f"{verdict} {name}: median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms "
          f"over {ROUNDS} runs (limit {limit_s * 1000:.0f} ms) -> {type(error).__name__}")
    return verdict == "PASS"


def main() -> int:
    print(f"Python {platform.python_version()} ({sys.implementation.name}); 0.32.4 hung "
          "forever on C1/C2 under Python 3.11")
    results = [
        report("C1 resource missing, max_in_flight=4 (reference test 1)",
               c1_missing_resource_bounded, ValueError, 1.0, "requires resource 'downloader'"),
        report("C2 resource missing, max_in_flight=1 (reference test 2)",
               c2_missing_resource_unbounded, ValueError, 1.0, "requires resource 'downloader'"),
        report("C3 factory raises ConnectionError, fan-out + slow consumer",
               c3_factory_raises, ConnectionError, 1.0, "no route to host"),
        report("A1 two fan-out branches read one after the other, grace=0.2 s",
               a1_sequential_siblings, StallError, 1.0, "handoff numbers->right full"),
    ]
    print(f"{sum(results)}/{len(results)} PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
