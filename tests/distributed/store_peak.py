"""The object store's peak while a byte-bounded stream feeds an ALL reader (run by
test_ray_bounds.py in a subprocess: it needs a Ray of its own, with a 300 MiB store and
objects freed every 20 ms, so the store shows what is held, not what awaits freeing).

Prints one JSON line: the reader's total, the peak store usage and what was spilled.
"""
from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import ray

from synaflow import pipeline, step
from synaflow.distributed import ray_run

MiB = 1 << 20


class N(NamedTuple):
    n: int


def blobs(n: int) -> Iterator[bytes]:
    for i in range(n):
        yield bytes([i % 256]) * MiB


def total(blobs: Iterator[bytes]) -> int:
    size = 0
    for blob in blobs:
        time.sleep(0.002)
        size += len(blob)
    return size


def sample(gcs: str, stop: threading.Event, out: dict) -> None:
    from ray._private.internal_api import get_memory_info_reply, get_state_from_address

    state = get_state_from_address(gcs)
    while not stop.is_set():
        used = get_memory_info_reply(state).store_stats.object_store_bytes_used
        out["peak"] = max(out["peak"], used)
        stop.wait(0.02)


def main(n: int) -> None:
    from ray._private.internal_api import memory_summary

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             object_store_memory=300 * MiB,
             _system_config={"free_objects_period_milliseconds": 20})
    p = pipeline(name="store_peak", params=N, steps=[
        step("blobs", fn=blobs, max_in_flight=4, max_in_flight_bytes="8MiB"),
        step("total", fn=total)])
    ray_run(p, N(8))  # warm up: actors and workers exist before measuring
    gcs = ray.get_runtime_context().gcs_address
    stop, figures = threading.Event(), {"peak": 0}
    sampler = threading.Thread(target=sample, args=(gcs, stop, figures), daemon=True)
    sampler.start()
    out = ray_run(p, N(n)).outputs["total"]
    stop.set()
    sampler.join()
    spilled = re.search(r"Spilled (\d+) MiB", memory_summary(address=gcs, stats_only=True))
    print(json.dumps({"total": out, "peak_mib": figures["peak"] / MiB,
                      "spilled_mib": int(spilled.group(1)) if spilled else 0}))
    ray.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]))
