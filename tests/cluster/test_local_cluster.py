"""cluster/local/start.sh and stop.sh run a real 2-node Ray cluster on this machine.

One cluster (head + 1 worker) serves the whole module: starting Ray costs seconds.
Every Ray process here runs with RAY_AUTH_MODE=disabled, passed explicitly, and
this pytest process never imports Ray's runtime: drivers are subprocesses.
If Ray cannot start, the tests fail (they are never skipped).

The tests run in file order; the last one stops the cluster and checks that
every recorded process is gone. The fixture stops it again at teardown in case
a selection (-k) skipped that test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.multinode

START_TIMEOUT = 400  # start.sh itself allows 120 s per node; slow under load
DRIVER_TIMEOUT = 120


def _env() -> dict[str, str]:
    """Environment for everything Ray-related we start: no auth, our venv first."""
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        env.pop(key, None)
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run(argv: list, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], env=_env(), capture_output=True, text=True,
        timeout=timeout, **kwargs,
    )


def _report(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def _start_time(pid: int) -> str | None:
    """Start time of a running (non-zombie) process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _recorded(state: Path) -> dict[int, str]:
    """pid -> recorded start time, from STATE_DIR/procs."""
    lines = (state / "procs").read_text().split("\n")
    return {int(f[0]): f[1] for f in (line.split() for line in lines) if f}


def _still_running(state: Path) -> list[int]:
    return [pid for pid, start in _recorded(state).items() if _start_time(pid) == start]


def _session_members(state: Path) -> list[int]:
    """Running processes in the cluster's sessions, recorded or not (task workers)."""
    sessions = {line.split()[0] for line in (state / "sessions").read_text().splitlines()}
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[3] in sessions and fields[0] not in ("Z", "X"):
            members.append(int(stat_file.parent.name))
    return members


def _stop(cluster_dir: Path, state: Path) -> subprocess.CompletedProcess:
    return _run(["bash", cluster_dir / "local" / "stop.sh", state], timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cluster_dir):
    """A head + 1 worker cluster; yields (state_dir, start.sh stdout)."""
    state = tmp_path_factory.mktemp("local-ray") / "state"
    started = time.monotonic()
    proc = _run(["bash", cluster_dir / "local" / "start.sh", 1, state], timeout=START_TIMEOUT)
    print(f"start.sh took {time.monotonic() - started:.1f}s")
    try:
        if proc.returncode != 0:
            pytest.fail(f"start.sh could not start Ray:\n{_report(proc)}")
        yield state, proc.stdout
    finally:
        if state.exists():
            _stop(cluster_dir, state)


def test_start_records_cluster(cluster):
    """start.sh prints the address and records live PIDs of its own processes."""
    state, stdout = cluster
    address = (state / "address").read_text().strip()
    assert f"export RAY_ADDRESS={address}" in stdout.splitlines()
    pids = [int(p) for p in (state / "pids").read_text().split()]
    assert sorted(pids) == sorted(_recorded(state))
    sessions = [line.split() for line in (state / "sessions").read_text().splitlines()]
    assert sorted(node for _sid, _leader_start, node in sessions) == ["head", "worker1"]
    assert _still_running(state), "no recorded process is running"


DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray.init(address=sys.argv[1], log_to_driver=False)
    alive = [n for n in ray.nodes() if n["Alive"]]

    @ray.remote(num_cpus=1)
    def where():
        return ray.get_runtime_context().get_node_id(), os.getsid(0)

    refs = [
        where.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote()
        for n in alive
    ]
    ran = ray.get(refs, timeout=60)
    print(json.dumps({"alive": [n["NodeID"] for n in alive], "ran": ran}))
    """
)


def test_two_nodes_run_tasks(cluster):
    """Both nodes are alive and each runs a task pinned to it.

    The task reports its Unix session: Ray's worker processes must live in one
    of the sessions start.sh recorded, or stop.sh could not find them.
    """
    state, _ = cluster
    address = (state / "address").read_text().strip()
    proc = _run([sys.executable, "-c", DRIVER, address], timeout=DRIVER_TIMEOUT)
    assert proc.returncode == 0, _report(proc)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["alive"]) == 2
    assert sorted(node for node, _ in result["ran"]) == sorted(result["alive"])
    sessions = {int(line.split()[0]) for line in (state / "sessions").read_text().splitlines()}
    assert {sid for _, sid in result["ran"]} <= sessions


SPREAD = textwrap.dedent(
    """
    import json, sys, time
    from typing import NamedTuple
    import ray
    from synaflow import pipeline, step
    from synaflow.distributed import ray_run

    class P(NamedTuple):
        items: list[int]

    def where(item: int) -> str:
        time.sleep(0.3)
        return ray.get_runtime_context().get_node_id()

    def nodes(where: list[str]) -> list[str]:
        return where

    p = pipeline(name="spread", params=P, steps=[
        step("where", fn=where, ray={"batch_size": 1, "num_cpus": 1}),
        step("nodes", fn=nodes)])
    result = ray_run(p, P(list(range(8))), address=sys.argv[1])
    print(json.dumps({"status": result.status, "nodes": result.outputs["nodes"]}))
    """
)


def test_ray_runner_uses_both_nodes(cluster):
    """The Ray runner scales an EACH step over both nodes of the cluster."""
    state, _ = cluster
    address = (state / "address").read_text().strip()
    proc = _run([sys.executable, "-c", SPREAD, address], timeout=DRIVER_TIMEOUT)
    assert proc.returncode == 0, _report(proc)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and len(result["nodes"]) == 8
    assert len(set(result["nodes"])) == 2, result


def test_wordcount_example_on_cluster(cluster):
    """examples/wordcount.py, the README's pipeline, runs on the cluster via --address."""
    state, _ = cluster
    address = (state / "address").read_text().strip()
    root = Path(__file__).resolve().parents[2]
    proc = _run([sys.executable, root / "examples" / "wordcount.py", "--address", address,
                 "--documents", "40"], timeout=DRIVER_TIMEOUT, cwd=root)
    assert proc.returncode == 0, _report(proc)
    first = proc.stdout.strip().splitlines()[0]
    assert first.startswith("succeeded") and "40 documents tokenised" in first, _report(proc)


def test_job_submit_packages_working_dir(cluster, tmp_path):
    """`ray job submit --working-dir` ships a directory to the cluster and runs it."""
    state, _ = cluster
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "payload.txt").write_text("packaged-ok")
    (job_dir / "job.py").write_text(
        "import ray\n"
        "ray.init()\n"
        "alive = [n for n in ray.nodes() if n['Alive']]\n"
        "print('JOB', open('payload.txt').read(), len(alive), 'nodes')\n"
    )
    dashboard = (state / "dashboard_url").read_text().strip()
    proc = _run(
        ["ray", "job", "submit", "--address", dashboard, "--working-dir", job_dir,
         "--", "python", "job.py"],
        timeout=DRIVER_TIMEOUT,
    )
    assert proc.returncode == 0, _report(proc)
    assert "JOB packaged-ok 2 nodes" in proc.stdout, _report(proc)


def test_stop_kills_only_recorded(cluster, cluster_dir):
    """stop.sh ends every recorded process (and the task workers forked since)
    and leaves look-alikes running.

    The decoy is a process of ours whose command line mentions raylet and
    gcs_server, as another user's Ray would: `ray stop` would kill it.
    """
    state, _ = cluster
    decoy = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "raylet", "gcs_server"]
    )
    try:
        proc = _stop(cluster_dir, state)
        assert proc.returncode == 0, _report(proc)
        deadline = time.monotonic() + 15
        while (_still_running(state) or _session_members(state)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _still_running(state) == []
        assert _session_members(state) == []
        assert decoy.poll() is None, "stop.sh killed a process it did not start"
        assert not Path((state / "temp_root").read_text().strip()).exists()
    finally:
        decoy.kill()
        decoy.wait()


def test_start_rejects_bad_worker_count(cluster_dir, tmp_path):
    """Argument errors fail fast, before any Ray process starts."""
    proc = _run(["bash", cluster_dir / "local" / "start.sh", "two", tmp_path / "s"], timeout=30)
    assert proc.returncode != 0
    assert "NUM_WORKERS" in proc.stderr
    assert not (tmp_path / "s" / "procs").exists()


def test_stop_without_state_is_a_no_op(cluster_dir, tmp_path):
    proc = _stop(cluster_dir, tmp_path / "never-started")
    assert proc.returncode == 0, _report(proc)
