"""Faults on a real 3-node Ray cluster on loopback (run by test_ray_faults.py in a
subprocess, so it does not disturb the session's Ray).

Three one-CPU nodes (``cluster_utils.Cluster``, node IPs 127.0.0.1, temp dir and
address file private to this run). A generator feeds an EACH step spread over
the nodes, whose results an ALL step collects in order. Two runs:

* ``kill``: SIGKILL one EACH worker process and the generator's actor process
  mid-stream (Ray retries the task; the runner restarts the generator and
  replays the items already delivered);
* ``remove``: remove a worker node mid-stream (its tasks are retried, results
  stored on it are rebuilt from lineage).

Prints one JSON line per run: items received, exactly once and in order, and
the seconds it took. A first run checks placement: a stream reader asking for a
resource that only a worker node has runs on that node.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import ray
from ray.cluster_utils import Cluster

from synaflow import pipeline, step
from synaflow.distributed import ray_run


class P(NamedTuple):
    n: int
    log: str


def source(n: int, log: str) -> Iterator[int]:
    with open(log + ".gen", "a") as f:
        f.write(f"{os.getpid()}\n")
    for i in range(n):
        time.sleep(0.002)
        yield i


def work(source: int, log: str) -> int:
    with open(log + ".work", "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.02)
    return source * 3


def collect(work: Iterator[int]) -> list:
    return list(work)


def build():
    return pipeline(name="faults", params=P, steps=[
        step("source", fn=source, max_in_flight=8),
        step("work", fn=work, ray={"batch_size": 4, "scheduling_strategy": "SPREAD"}),
        step("collect", fn=collect)])


def gather(source: Iterator[int]) -> tuple:
    return sum(source), ray.get_runtime_context().get_node_id()


def placed(cluster: Cluster, node) -> dict:
    """A stream reader that needs a resource only a worker node has runs there (its
    actor prefers the driver's node, but does not insist)."""
    p = pipeline(name="placed", params=P, steps=[
        step("source", fn=source),
        step("gather", fn=gather, ray={"resources": {"special": 1}})])
    total, node_id = ray_run(p, P(10, os.devnull), address=cluster.address,
                             stall_timeout=60).outputs["gather"]
    return {"run": "placed", "total": total, "on_special_node": node_id == node.node_id}


def pids(path: str) -> list[int]:
    try:
        with open(path) as f:
            return [int(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def killer(log: str, done: threading.Event) -> None:
    """Once the stream flows, kill one EACH worker, then the generator's actor."""
    while not done.is_set() and len(set(pids(log + ".work"))) < 2:
        time.sleep(0.05)
    me = os.getpid()
    victims = [p for p in dict.fromkeys(pids(log + ".work")) if p != me][:1]
    victims += [p for p in pids(log + ".gen") if p != me][:1]
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.3)


def remover(cluster: Cluster, node, log: str, done: threading.Event) -> None:
    while not done.is_set() and len(pids(log + ".work")) < 20:
        time.sleep(0.05)
    cluster.remove_node(node)


def one_run(name: str, cluster: Cluster, n: int, log: str, fault) -> dict:
    done = threading.Event()
    thread = threading.Thread(target=fault, args=(done,), daemon=True)
    t0 = time.monotonic()
    thread.start()
    out = ray_run(build(), P(n, log), address=cluster.address).outputs["collect"]
    done.set()
    return {"run": name, "items": len(out), "exact": out == [3 * i for i in range(n)],
            "generator_starts": len(pids(log + ".gen")),
            "seconds": round(time.monotonic() - t0, 1)}


def main() -> None:
    n, workdir = int(sys.argv[1]), sys.argv[2]
    head = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        first = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1",
                                 resources={"special": 1})
        second = cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        print(json.dumps(placed(cluster, first)), flush=True)
        log = os.path.join(workdir, "kill")
        print(json.dumps(one_run("kill", cluster, n, log, lambda d: killer(log, d))),
              flush=True)
        log = os.path.join(workdir, "remove")
        print(json.dumps(one_run("remove", cluster, n, log,
                                 lambda d: remover(cluster, second, log, d))), flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
