"""Faults: Ctrl-C in the driver, and workers, actors and a node lost mid-stream on a
real multi-node cluster (nothing lost, nothing twice)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import ray_pipelines as rp

from synaflow import StepEvent
from synaflow.distributed import ray_run

HERE = os.path.dirname(os.path.abspath(__file__))


def test_ctrl_c_cancels_remote_work(ray_session, tmp_path):
    """KeyboardInterrupt in the driver cancels the batches in flight (their rows
    never finish) and kills the stage actors (the named one is gone)."""
    import ray

    def interrupt(ctx):  # as if the user pressed Ctrl-C once rows are running
        if ctx.event is StepEvent.STARTED and ctx.step_name == "sleepy":
            raise KeyboardInterrupt

    p = rp.interrupted(interrupt)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ray_run(p, rp.Marks(6, str(tmp_path)))
    assert time.monotonic() - t0 < 10
    deadline = time.monotonic() + 10
    while any(n.startswith("ctrlc.counted") for n in ray.util.list_named_actors()):
        assert time.monotonic() < deadline, "the generator's actor was not killed"
        time.sleep(0.1)
    time.sleep(2.5)  # a row that kept running would have finished by now
    assert list(tmp_path.iterdir()) == []


def stopped_marks(marks, timeout: float = 20.0) -> list[str]:
    """Wait until every started call has a ``stopped-`` mark (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        names = sorted(p.name for p in marks.iterdir())
        started = {n.split("-", 1)[1] for n in names if n.startswith("started-")}
        ended = {n.split("-")[1] for n in names if n.startswith(("stopped-", "done-"))}
        if started <= ended or time.monotonic() > deadline:
            return names
        time.sleep(0.1)


@pytest.mark.parametrize("pipeline", ["long_rows", "long_value_and_failure",
                                      "long_value_with_resource_and_failure"])
def test_a_failing_run_stops_long_calls_without_ray_cancel(ray_session, tmp_path,
                                                           monkeypatch, pipeline):
    """A run that fails while other calls run for 30 s (EACH rows under STOP; a value
    step beside a failing one) stops them where they run: each running call ends with
    RunStopped, none finishes, and ``ray.cancel``, which can abort Ray 2.60's driver
    when a task finishes as it is cancelled, is never called."""
    import ray

    cancels: list = []
    monkeypatch.setattr(ray, "cancel", lambda *a, **k: cancels.append(a))
    with pytest.raises(Exception, match="fails"):
        ray_run(getattr(rp, pipeline)(), rp.Xm(list(range(6)), str(tmp_path)))
    names = stopped_marks(tmp_path)
    started = [n for n in names if n.startswith("started-")]
    assert started, names
    assert [n for n in names if n.startswith("stopped-")] == [
        f"stopped-{n.split('-', 1)[1]}-RunStopped" for n in started]
    assert not [n for n in names if n.startswith("done-")]
    assert cancels == []


@pytest.mark.multinode
def test_node_and_worker_loss_lose_nothing():
    """On a 3-node loopback cluster: killing an EACH worker and the generator's
    actor, then removing a worker node, mid-stream; both runs complete with every
    item exactly once, in order (the generator was restarted and replayed). First, a
    stream reader that needs a resource only a worker node has runs there."""
    workdir = tempfile.mkdtemp(prefix="sfr", dir="/tmp")  # short: Ray's socket paths
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": workdir,
           # Keep the loopback address when the driver connects (Ray would swap
           # 127.0.0.1 for the host's primary address, where nothing listens).
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        res = subprocess.run([sys.executable, os.path.join(HERE, "multinode_faults.py"),
                              "300", workdir], capture_output=True, text=True, timeout=150,
                             env=env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    runs = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert res.returncode == 0 and len(runs) == 3, res.stderr[-4000:]
    placed, kill, remove = runs
    assert placed == {"run": "placed", "total": 45, "on_special_node": True}
    assert kill["items"] == remove["items"] == 300
    assert kill["exact"] and remove["exact"]
    assert kill["generator_starts"] == 2  # killed once, restarted once


def test_lost_replica_is_replaced(ray_session, tmp_path):
    """An actor replica of a stateful EACH step dies mid-stream: a new replica (with
    a new resource) takes over its unacknowledged batches; every row once, in order."""
    out = ray_run(rp.crashing_replicas(), rp.Flaky(list(range(20)), str(tmp_path)))
    rows = out.outputs["crash_once"]
    assert [r[0] for r in rows] == list(range(20))
    assert (tmp_path / "crashed").exists()
    assert len({r[1] for r in rows}) == 3  # two replicas, one of them replaced


def test_lost_stream_reader_is_called_again(ray_session, tmp_path):
    """The actor of a step that reads a whole stream dies mid-stream: the step is
    called again on a new actor with the input it had been given (kept by the
    driver), then the rest; it sees every item once, in order."""
    out = ray_run(rp.crashing_reader(), rp.Marked(200, str(tmp_path)))
    assert out.outputs["read_all_once"] == list(range(200))
    assert (tmp_path / "crashed").exists()
    assert (tmp_path / "attempts").read_text() == "xx"


def test_lost_reader_of_byte_bounded_stream_ends_the_run(ray_session, tmp_path):
    """A byte-bounded stream keeps a quarter of its bound for replay (the replay log
    holds objects in the store): losing its reader's actor past that ends the run with
    an error naming the step and why, never with lost or repeated items."""
    with pytest.raises(Exception) as info:
        ray_run(rp.crashing_reader("64B"), rp.Marked(200, str(tmp_path)))
    text = "".join(getattr(info.value, "__notes__", [])) + str(info.value)
    assert "step 'read_all_once': its actor was lost mid-stream" in text
    assert "over the 16 bytes it may keep for replay (a quarter of its stream's" in text
    assert (tmp_path / "attempts").read_text() == "x"


def test_stop_keys_expire(ray_session, monkeypatch):
    """A stopped step's key in Ray's key-value store is there for workers to find,
    then deleted by the driver's one expiry thread (after KEEP_S)."""
    from ray.experimental import internal_kv

    from synaflow.distributed import stopping

    monkeypatch.setattr(stopping, "KEEP_S", 0.5)
    slots = [f"expiring-run:{n}" for n in range(3)]
    for slot in slots:
        stopping.stop_on_ray(slot)
    assert all(stopping._stopped(slot) for slot in slots)
    deadline = time.monotonic() + 10
    while any(internal_kv._internal_kv_exists(stopping.key(s), namespace=stopping.NAMESPACE)
              for s in slots):
        assert time.monotonic() < deadline, "stop keys were not deleted"
        time.sleep(0.1)
    assert [t for t in threading.enumerate() if t.name == "synaflow-stop-expiry"] \
        == stopping._EXPIRER
