"""Why the Ray runner never calls ``ray.cancel``: a soak, side by side in one run.

    RAY_AUTH_MODE=disabled python benchmarks/soak_cancel.py [seconds per side, default 60]

* raw Ray: rounds of 8 tasks of 0.5-4 ms, each round cancelled at a random moment
  (``ray.cancel``, force=False), as a runner that cancels in-flight work on failure
  would. On Ray 2.60 the driver process aborts within seconds (``Check failed: it !=
  submissible_tasks_.end() Tried to complete task that was not pending``).
* SynaFlow: failing runs on the same kind of rows (an EACH step under STOP, batch
  size 1, a row that raises), one after the other: each failure stops the batches
  in flight through the run's stop board (``synaflow/distributed/stopping.py``).

Each side runs in its own process with its own local Ray (2 CPUs). Prints how many
rounds/runs each process survived and how it ended; exits 0 (a report, not a test).
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from typing import NamedTuple

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


class Xs(NamedTuple):
    xs: list


def work(xs: int) -> int:
    end = time.perf_counter() + random.uniform(0.0005, 0.004)
    while time.perf_counter() < end:
        pass
    if xs == 37:
        raise RuntimeError("row 37 fails")
    return xs


def raw_side(seconds: float) -> int:
    import ray

    short = ray.remote(work)
    t0, rounds = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        refs = [short.remote(i) for i in range(8)]
        time.sleep(random.uniform(0, 0.006))
        for ref in refs:
            try:
                ray.cancel(ref, force=False)
            except Exception:
                pass
        for ref in refs:
            try:
                ray.get(ref)
            except Exception:
                pass
        rounds += 1
    return rounds


def synaflow_side(seconds: float) -> int:
    import logging

    from synaflow import OnError, pipeline, step
    from synaflow.distributed import ray_run

    logging.getLogger("synaflow").setLevel(logging.ERROR)
    p = pipeline(name="soak", params=Xs, steps=[
        step("work", fn=work, on_error=OnError.STOP, ray={"batch_size": 1})])
    t0, runs = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        try:
            ray_run(p, Xs(random.sample(range(60), 60)))
            raise AssertionError("the run should have failed")
        except Exception as exc:
            if "row 37 fails" not in str(exc) and "row 37 fails" not in str(exc.__cause__):
                raise
        runs += 1
    return runs


def child(side: str, seconds: float) -> None:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    count = (raw_side if side == "raw" else synaflow_side)(seconds)
    print(f"SURVIVED {count}", flush=True)
    ray.shutdown()


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(f"{'side':<10} {'survived':<22} ended")
    for side, unit in (("raw", "cancelled rounds"), ("synaflow", "failing runs")):
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, __file__, "--child", side, str(seconds)],
                              capture_output=True, text=True, timeout=seconds + 120,
                              env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        took = time.monotonic() - t0
        survived = [ln for ln in proc.stdout.splitlines() if ln.startswith("SURVIVED")]
        check = [ln for ln in proc.stderr.splitlines() if "Check failed" in ln]
        if proc.returncode == 0 and survived:
            ended = f"completed ({took:.0f} s)"
        else:
            ended = (f"driver aborted after {took:.0f} s, exit {proc.returncode}: "
                     + (check[0].split("Check failed:")[1].strip()[:70] if check else
                        proc.stderr.strip().splitlines()[-1][:70] if proc.stderr.strip()
                        else "no message"))
        count = survived[0].split()[1] if survived else "-"
        print(f"{side:<10} {count + ' ' + unit:<22} {ended}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], float(sys.argv[3]))
    else:
        main()
