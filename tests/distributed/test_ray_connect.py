"""Joining running clusters (``address=``, ``ray://``, ``RAY_ADDRESS``, token
authentication), per-step resources at run time, and what the dashboard names.

The clusters are real ``ray start`` heads on loopback, started and stopped with
``cluster/local/start.sh``/``stop.sh`` (which signal only the processes they
started; never ``ray stop``). One plain head (with a fake GPU, a custom resource and
declared memory) serves most tests; a second one has token authentication on.
This session already runs an embedded Ray and a process joins one Ray at a time,
so every driver is a subprocess (``ray_connect_driver.py``) printing one JSON line.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from synaflow.distributed import RayResourceError
from synaflow.distributed.connect import check_resources

pytestmark = pytest.mark.multinode

HERE = Path(__file__).resolve().parent
LOCAL = HERE.parents[1] / "cluster" / "local"
DRIVER = HERE / "ray_connect_driver.py"
HEAD_ARGS = '--num-gpus=1 --resources={"special":2} --memory=2000000000'


def _env(**extra: str) -> dict[str, str]:
    """No stray cluster address, no token auth unless asked, our venv's `ray` first."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN",
                        "RAY_AUTH_TOKEN_PATH")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    env.update(extra)
    return env


def _report(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-4000:]}"


def _running(state: Path) -> set[int]:
    """Recorded processes of the cluster that still run (start time unchanged)."""
    alive = set()
    for line in (state / "procs").read_text().splitlines():
        pid, start = line.split()[:2]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and fields[19] == start:
            alive.add(int(pid))
    return alive


def _cluster(state: Path, env: dict[str, str]):
    # Ray Client's proxier forks a server per connection while its gRPC threads run;
    # with gRPC's fork handlers on, the child sometimes dies at once ("Starting Ray
    # client server failed", ray-project/ray#63202). It execs straight away, so the
    # handlers are not needed.
    env = {**env, "GRPC_ENABLE_FORK_SUPPORT": "false"}
    try:  # stop.sh also cleans up after a start.sh that failed or timed out
        proc = subprocess.run(["bash", str(LOCAL / "start.sh"), "0", str(state)], env=env,
                              capture_output=True, text=True, timeout=400)
        if proc.returncode != 0:
            pytest.fail(f"start.sh could not start Ray:\n{_report(proc)}")
        yield state
    finally:
        subprocess.run(["bash", str(LOCAL / "stop.sh"), str(state)],
                       env={**env, "SYNAFLOW_RAY_STOP_GRACE": "1"}, capture_output=True,
                       timeout=120)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head with 2 CPUs, a GPU (Ray takes --num-gpus on trust), 2 'special', and
    ~2 GB of schedulable memory; with the dashboard, for the state API."""
    state = tmp_path_factory.mktemp("ray-connect") / "state"
    yield from _cluster(state, _env(SYNAFLOW_RAY_NUM_CPUS="2",
                                    SYNAFLOW_RAY_HEAD_ARGS=HEAD_ARGS))


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory):
    """A head with token authentication; its token lives in the environment and
    HOME is a temporary directory, so nothing is written to the real one."""
    home = tmp_path_factory.mktemp("ray-token-home")
    token = secrets.token_hex(16)
    state = home / "state"
    env = _env(HOME=str(home), RAY_AUTH_TOKEN=token, SYNAFLOW_RAY_AUTH_MODE="token",
               SYNAFLOW_RAY_DASHBOARD="0", SYNAFLOW_RAY_NUM_CPUS="1")
    for state in _cluster(state, env):
        yield state, token, home


def _drive(scenario: str, *args: str, env: dict[str, str], timeout: float = 180) -> dict:
    proc = subprocess.run([sys.executable, str(DRIVER), scenario, *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=HERE)
    assert proc.returncode == 0, _report(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _address(state: Path, kind: str) -> str:
    return (state / kind).read_text().strip()


@pytest.mark.parametrize("how", ["ray://", "RAY_ADDRESS"])
def test_joins_running_cluster(cluster, how):
    """``address="ray://..."`` (Ray Client) and ``RAY_ADDRESS`` without ``address=``
    both join the running cluster; two runs work, and the cluster is left running."""
    before = _running(cluster)
    if how == "ray://":
        out = _drive("connect", _address(cluster, "client_address"), env=_env())
    else:
        out = _drive("connect", env=_env(RAY_ADDRESS=_address(cluster, "address")))
    assert out == {"outputs": ["abc", "de"], "connected": True,
                   "client": how == "ray://"}, out
    assert before and _running(cluster) == before


@pytest.mark.parametrize("how", ["ray://", "address"])
def test_value_step_with_resources_on_a_cluster(cluster, how):
    """A value step with a resource runs as a streaming task; Ray Client cannot run
    those, so there it is a plain task (reporting STARTED when submitted)."""
    kind = "client_address" if how == "ray://" else "address"
    out = _drive("with_resources", _address(cluster, kind), env=_env())
    assert out == {"outputs": {"counted_total": 6},
                   "events": ["pipeline_started", "step_started", "step_completed",
                              "pipeline_completed"]}, out


def test_failing_run_stops_its_rows_through_ray_client(cluster, tmp_path):
    """Over ``ray://`` the driver's stop reaches the cluster's key-value store: the
    long rows of a failing run end with RunStopped instead of running 30 s."""
    out = _drive("stopped", _address(cluster, "client_address"), str(tmp_path), env=_env())
    started = [m for m in out["marks"] if m.startswith("started-")]
    assert out["error"] == "PipelineStopException" and started, out
    assert [m for m in out["marks"] if not m.startswith("started-")] == [
        f"stopped-{m.split('-')[1]}-RunStopped" for m in started], out


def test_step_resources_at_run_time(cluster):
    """num_gpus, custom resources and memory reach the step's tasks; max_concurrency=4
    lets four rows of one replica run at the same time."""
    out = _drive("resources", _address(cluster, "address"), env=_env())
    assert "error" not in out, out
    assert out["gpu"] == [[1, ["CPU", "GPU"], [0], "0"], [2, ["CPU", "GPU"], [0], "0"]]
    assert [row[1] for row in out["special"]] == [["CPU", "special"]] * 2
    assert [row[1] for row in out["memory"]] == [["CPU", "memory"]] * 2
    assert out["peak"] == 4


def test_missing_resource_fails_fast(cluster):
    """A step asking for a resource no node has fails before anything is submitted,
    naming the step and the resource (Ray would keep the task pending forever)."""
    out = _drive("infeasible", _address(cluster, "address"), env=_env())
    assert out["error"] == "RayResourceError", out
    for words in ("step 'assigned'", "'tpu_pod'", "special: 2", "SYNAFLOW_RAY_CHECK_RESOURCES"):
        assert words in out["message"], out["message"]


def test_dashboard_names(cluster):
    """Pooled actors are named ``synaflow.pool#n:job`` and reused by the second run;
    every task and actor call is named after its pipeline and step."""
    out = _drive("names", _address(cluster, "address"), env=_env())
    assert "error" not in out, out
    assert len(out["actors"]) == 2, out
    assert all(name.startswith("synaflow.pool#") for name in out["actors"]), out
    assert {"basic.letters.start", "basic.letters.next", "basic.joined"} <= set(out["tasks"])


def test_runs_after_ray_restarts_in_the_process():
    """``ray.shutdown()`` then ``ray.init()`` in one process: the new cluster's first
    job has the old one's id, and the runner must not reuse the old cluster's pooled
    actors (it did: "Can't find actor ... from a different cluster"). A Ray the
    runner starts itself is stopped again after the run."""
    got = _drive("restarted", env=_env())
    assert got == {"outputs": ["abc", "abc", "d"], "left_running": False}


def test_resource_check_table(monkeypatch):
    """Which demands the pre-submit check lets through (no cluster needed)."""
    nodes = [{"CPU": 4.0, "memory": 8e9}, {"CPU": 1.0, "GPU": 1.0}]
    check_resources("p", {"a": {"num_cpus": 4}, "b": {"num_gpus": 1}, "c": {}}, nodes)
    with pytest.raises(RayResourceError, match="step 'big'.*no node has enough 'CPU'"):
        check_resources("p", {"big": {"num_cpus": 8}}, nodes)
    with pytest.raises(RayResourceError, match="no single node has all of them"):
        check_resources("p", {"both": {"num_cpus": 2, "num_gpus": 1}}, nodes)
    monkeypatch.setenv("SYNAFLOW_RAY_CHECK_RESOURCES", "0")
    check_resources("p", {"big": {"num_cpus": 8}}, nodes)


def _token_env(home: Path, token: str | None = None) -> dict[str, str]:
    """A driver with RAY_AUTH_MODE=token and ``token`` (None: no token anywhere)."""
    if token is None:
        return _env(HOME=str(home))
    return _env(HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)


def test_token_authentication(token_cluster):
    """With RAY_AUTH_MODE=token and the cluster's token the runner joins it; without a
    token, or with a wrong one, it fails at once (Ray alone retries for 20 s and then
    names neither cause nor fix) with an error naming the address and the fix."""
    state, token, home = token_cluster
    address = _address(state, "address")
    assert _drive("connect", address, env=_token_env(home, token))["outputs"] == ["abc", "de"]
    missing = _drive("connect", address, env=_token_env(home), timeout=60)
    assert missing["error"] == "RayConnectionError", missing
    for words in (address, "requires an authentication token", "RAY_AUTH_MODE=token",
                  "RAY_AUTH_TOKEN"):
        assert words in missing["message"], missing["message"]
    wrong = _drive("connect", address, env=_token_env(home, "0" * 32), timeout=60)
    assert wrong["error"] == "RayConnectionError", wrong
    assert "rejected the token" in wrong["message"], wrong["message"]
    assert not (home / ".ray").exists()


def test_token_authentication_client(token_cluster):
    """The same through Ray Client (``ray://``): the token travels with it; a missing
    one is reported at once (Ray Client alone times out after 30 s)."""
    state, token, home = token_cluster
    address = _address(state, "client_address")
    out = _drive("connect", address, env=_token_env(home, token))
    assert out == {"outputs": ["abc", "de"], "connected": True, "client": True}, out
    missing = _drive("connect", address, env=_token_env(home), timeout=60)
    assert missing["error"] == "RayConnectionError", missing
    assert "requires an authentication token" in missing["message"], missing["message"]
