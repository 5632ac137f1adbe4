"""Ctrl-C while an embedded Ray is starting leaves nothing behind (issue 23, item 6).

Before, Ray's DashboardAgent and RuntimeEnvAgent outlived the interrupted start for
about a minute (their raylet was gone, they were orphans). The same run through the CLI
prints one line and exits 130, without a traceback.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Callable

import pytest


def tagged() -> tuple[dict[str, str], Callable[[], dict[int, bytes]]]:
    """An environment for a subprocess, and a function listing the live processes that
    inherited it (zombies excluded) with their command lines: whatever the subprocess
    started, re-parented orphans and agents still importing (not yet named ray::...)
    included."""
    from synaflow.distributed import connect as conn

    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, RAY_AUTH_MODE="disabled", SYNAFLOW_TEST_TAG=tag)
    env.pop("RAY_ADDRESS", None)

    def live() -> dict[int, bytes]:
        found = {}
        for pid in conn._marked(tag, "SYNAFLOW_TEST_TAG"):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()[:120]
            except OSError:
                continue
            if conn._running(pid):
                found[pid] = cmdline
        return found

    return env, live


def stop_all(live: Callable[[], dict[int, bytes]]) -> dict[int, bytes]:
    """Kill what is left (never leave it for the next test) and say what it was."""
    left = live()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


INTERRUPTED_START = textwrap.dedent("""
    import os, signal, sys, threading
    from synaflow.distributed import connect as conn

    threading.Timer(float(sys.argv[1]), lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        conn.connect(None, {"num_cpus": 1})
        print("started")
    except KeyboardInterrupt:
        print("interrupted")
""")


@pytest.mark.parametrize("delay", [1.5, 2.5])
def test_interrupted_start_leaves_no_process(delay):
    env, live = tagged()
    out = subprocess.run([sys.executable, "-c", INTERRUPTED_START, str(delay)], env=env,
                         capture_output=True, text=True, timeout=120)
    time.sleep(1.0)
    left = stop_all(live)
    if "started" in out.stdout:
        pytest.fail(f"Ray started within {delay} s: the interrupt came too late to test")
    assert "interrupted" in out.stdout, out.stderr[-2000:]
    assert left == {}, f"left running after an interrupted start: {left}"


CATALOG = textwrap.dedent("""
    import time
    from typing import NamedTuple
    from synaflow import PipelineRegistry, pipeline, step

    class P(NamedTuple):
        n: int = 1

    def slow(n: int) -> int:
        time.sleep(60)
        return n

    catalog = PipelineRegistry()
    catalog.add(pipeline(name="slow", params=P, steps=[step("slow", fn=slow)]))
""")


@pytest.mark.parametrize("runner", ["sync", "ray"])
def test_cli_ctrl_c_exits_130_with_one_line(tmp_path, runner):
    (tmp_path / "slow_catalog.py").write_text(CATALOG)
    env, live = tagged()
    env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "synaflow", "--catalog", "slow_catalog",
                             "run", "slow", "--runner", runner], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8 if runner == "ray" else 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    time.sleep(1.0)
    left = stop_all(live)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("synaflow:")]
    assert lines == ["synaflow: interrupted (Ctrl-C): the run was stopped"], err[-2000:]
    assert left == {}, f"left running after Ctrl-C: {left}"


def test_stopping_an_interrupted_start_finds_reparented_processes(monkeypatch):
    """A process the start spawned whose parent died first is no longer below the driver;
    the start's marker in its environment still finds it (a raylet stopped half way may
    have spawned an agent a moment before)."""
    from synaflow.distributed import connect as conn

    marker = f"test-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, **{conn.START_MARKER: marker})
    # the child exits at once, so the sleep it started is re-parented away from us
    spawn = ("import subprocess; print(subprocess.Popen(['sleep', '120'], stdin=-3, stdout=-3, "
             "stderr=-3).pid)")
    orphan = int(subprocess.run([sys.executable, "-c", spawn], env=env, check=True,
                                capture_output=True, text=True).stdout)
    deadline = time.monotonic() + 10
    while orphan not in conn._marked(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphans = [orphan]
    try:
        with open(f"/proc/{orphan}/environ", "rb") as f:
            seen = conn.START_MARKER.encode() + b"=" + marker.encode() in f.read()
    except OSError as exc:
        seen = exc
    assert orphan in conn._marked(marker), f"marked: {conn._marked(marker)}, environ: {seen}"
    assert orphan not in conn._descendants()
    try:
        conn.stop_started(set(conn._descendants()), marker)
        assert [pid for pid in orphans if conn._running(pid)] == []
    finally:
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
