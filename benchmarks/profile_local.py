"""cProfile of our local runners on the bench_local workloads, across all threads.

    python benchmarks/profile_local.py                    # W1 and W2, sync runner, top 10
    python benchmarks/profile_local.py --case w1 --runner async --top 20

The sync runner executes each step in its own thread, so a plain ``cProfile.run`` only
sees the main thread waiting.  Here every ``threading.Thread`` gets its own profiler and
the statistics are merged; the main thread's idle wait (``SimpleQueue.get``) is left out
unless ``--with-main``.  Not a benchmark (``run_all.py`` skips it): profiling inflates
per-call costs, so read the shares, not the absolute times.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _wl_local as W  # noqa: E402

_PROFILES: list[cProfile.Profile] = []
_original_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
    _PROFILES.append(profile)
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


def profile_case(case: str, runner: str, n: int, top: int, with_main: bool) -> None:
    fn, params = W.make_runner(case, runner)
    if fn is None:
        print(f"{case}/{runner}: async runner: not available yet")
        return
    fn(params(2_000))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn(params(n))
        times.append(time.perf_counter() - t0)
    _PROFILES.clear()
    main = cProfile.Profile()
    main.enable()
    fn(params(n))
    main.disable()
    profiles = ([main] if with_main or runner != "sync" else []) + list(_PROFILES)
    if not profiles:
        profiles = [main]
    stats = pstats.Stats(profiles[0], stream=io.StringIO())
    for extra in profiles[1:]:
        stats.add(extra)
    out = io.StringIO()
    stats.stream = out
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\n===== {case} / {runner}: n={n:,}, unprofiled best {min(times) / n * 1e6:.3f} "
          f"us/item; profile of {len(profiles)} thread(s), top {top} by tottime")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), 0)
    print("\n".join(line for line in lines[start:] if line.strip()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=["w1", "w2", "w1_async"], action="append")
    ap.add_argument("--runner", default="sync", choices=["sync", "async"])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--with-main", action="store_true",
                    help="include the sync runner's main thread (mostly idle waiting)")
    args = ap.parse_args(argv)
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    for case in args.case or ["w1", "w2"]:
        profile_case(case, args.runner, args.n, args.top, args.with_main)
    return 0


if __name__ == "__main__":
    sys.exit(main())
