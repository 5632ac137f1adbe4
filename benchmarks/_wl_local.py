"""Local-runner workloads, run unchanged in the reference interpreter and in ours.

Only the public API common to SynaFlow 0.32.4 and this implementation is used:
``pipeline``, ``step``, ``PipelineRegistry`` (``add`` + ``get_dag``), ``run`` and ``async_run``.
Both sides go through the registry path, so they execute the very same compiled-Dag call.
Results are checked through a side effect (0.32.4's ``run`` returns ``None``).

    python _wl_local.py --case w1 --runner sync --n 100000 --repeat 3
    python _wl_local.py --case w1 --runner sync --curve --n 10000000

Cases: ``w1`` (generator -> EACH map -> ALL sum), ``w2`` (two chained ALL generators -> ALL sum),
``w1_async`` (w1 written with ``async def`` steps and ``AsyncIterator``).
Runners: ``sync`` (``run``), ``async`` (``asyncio.run(async_run(...))``), ``plain`` (the same
functions chained by hand: the floor).  Prints one JSON line.
"""
import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import _reference as R

from synaflow import PipelineRegistry, pipeline, step
from synaflow import run as sync_run

RESULT: dict = {}


class CountParams(NamedTuple):
    count: int


class NParams(NamedTuple):
    n: int


# ------------------------------------------------------------------ W1: numbers -> doubled -> total


def numbers(count: int) -> Iterator[int]:
    yield from range(count)


def doubled(number: int) -> int:  # "number" <- "numbers": unrolled per item (EACH)
    return number * 2


def total(doubled: Iterator[int]) -> int:  # consumes the whole stream (ALL)
    s = sum(doubled)
    RESULT["total"] = s
    return s


# ------------------------------------------------------------------ W2: a -> b -> total (all ALL)


def a(n: int) -> Iterator[int]:
    yield from range(n)


def b(a: Iterator[int]) -> Iterator[int]:
    for x in a:
        yield x * 2


def total_b(b: Iterator[int]) -> int:
    s = sum(b)
    RESULT["total"] = s
    return s


# ------------------------------------------------------------------ W1 async-native


async def anumbers(count: int) -> AsyncIterator[int]:
    for i in range(count):
        yield i


async def adoubled(number: int) -> int:
    return number * 2


async def atotal(doubled: AsyncIterator[int]) -> int:
    s = 0
    async for x in doubled:
        s += x
    RESULT["total"] = s
    return s


# ------------------------------------------------------------------ M1: W1 with RSS samples

SAMPLES: list = []
SAMPLE_EVERY = 1_000_000


def numbers_sampled(count: int) -> Iterator[int]:
    """``numbers`` that records (items yielded so far, RSS) every SAMPLE_EVERY items."""
    done = 0
    while done < count:
        upto = min(count, done + SAMPLE_EVERY)
        yield from range(done, upto)
        done = upto
        SAMPLES.append((done, R.rss_bytes()))


# ------------------------------------------------------------------ building


def build(case: str, sampled: bool = False):
    """(compiled Dag, params type) for ``case``, through ``PipelineRegistry``."""
    if case == "w1":
        params = CountParams
        steps = [step("numbers", fn=numbers_sampled if sampled else numbers),
                 step("doubled", fn=doubled),
                 step("total", fn=total)]
        expect = {"numbers": "all", "doubled": "each", "total": "all"}
    elif case == "w2":
        params = NParams
        steps = [step("a", fn=a), step("b", fn=b), step("total", fn=total_b)]
        expect = {"a": "all", "b": "all", "total": "all"}
    elif case == "w1_async":
        params = CountParams
        steps = [step("numbers", fn=anumbers), step("doubled", fn=adoubled),
                 step("total", fn=atotal)]
        expect = {"numbers": "all", "doubled": "each", "total": "all"}
    else:
        raise SystemExit(f"unknown case {case!r}")
    reg = PipelineRegistry()
    reg.add(pipeline(name=f"bench_{case}", params=params, steps=steps))
    dag = reg.get_dag(f"bench_{case}")
    modes = {name: getattr(node.mode, "value", node.mode) for name, node in dag.steps.items()}
    if modes != expect:
        raise SystemExit(f"{case}: resolved modes {modes} != expected {expect}")
    return dag, params


def plain_runner(case: str):
    """The same functions chained by hand, no framework: the floor."""
    if case == "w1":
        return lambda p: total(doubled(x) for x in numbers(p.count))
    if case == "w2":
        return lambda p: total_b(b(a(p.n)))
    if case == "w1_async":
        async def chain(count: int) -> int:
            async def mapped():
                async for x in anumbers(count):
                    yield await adoubled(x)
            return await atotal(mapped())
        return lambda p: asyncio.run(chain(p.count))
    raise SystemExit(f"unknown case {case!r}")


def make_runner(case: str, runner: str, sampled: bool = False):
    if runner == "plain":
        return plain_runner(case), (NParams if case == "w2" else CountParams)
    dag, params = build(case, sampled)
    if runner == "sync":
        return (lambda p: sync_run(dag, p)), params
    if runner == "async":
        try:
            from synaflow import async_run
        except (ImportError, AttributeError):
            return None, params
        return (lambda p: asyncio.run(async_run(dag, p))), params
    raise SystemExit(f"unknown runner {runner!r}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True, choices=["w1", "w2", "w1_async"])
    ap.add_argument("--runner", required=True, choices=["sync", "async", "plain"])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2_000)
    ap.add_argument("--curve", action="store_true", help="M1: one run, RSS every 1M items")
    args = ap.parse_args(argv)

    rss_start = R.rss_bytes()
    fn, params = make_runner(args.case, args.runner, sampled=args.curve)
    if fn is None:
        R.emit(case=args.case, runner=args.runner, unavailable=True,
               error="async runner: not available yet")
        return
    expected = args.n * (args.n - 1)  # sum(2 * i for i in range(n))

    fn(params(args.warmup))
    if args.curve:
        SAMPLES.clear()
        rss_before = R.rss_bytes()
        t0 = time.perf_counter()
        fn(params(args.n))
        dt = time.perf_counter() - t0
        ok = RESULT.get("total") == expected
        R.emit(case=args.case, runner=args.runner, n=args.n, ok=ok, seconds=dt,
               per_item_us=dt / args.n * 1e6, rss_start=rss_start, rss_before=rss_before,
               rss_after=R.rss_bytes(), max_rss=R.max_rss_bytes(), samples=SAMPLES)
        return

    # Wall time is the target's measure; process CPU time (all threads) is reported too:
    # on a shared, loaded machine it stays close to what an idle machine's wall time would be.
    times, cpu_times = [], []
    ok = True
    for _ in range(args.repeat):
        RESULT.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        fn(params(args.n))
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        ok = ok and RESULT.get("total") == expected
    best_s, best_cpu_s = min(times), min(cpu_times)
    R.emit(case=args.case, runner=args.runner, n=args.n, ok=ok, best_s=best_s,
           per_item_us=best_s / args.n * 1e6, best_cpu_s=best_cpu_s,
           cpu_per_item_us=best_cpu_s / args.n * 1e6, times=times, cpu_times=cpu_times)
    if not ok:
        print(f"wrong total: {RESULT.get('total')} != {expected}", file=sys.stderr)


if __name__ == "__main__":
    main()
