"""A bad ``address=`` fails within seconds with a RayConnectionError naming it (issue 23,
item 1). Before, ``127.0.0.1:1`` and ``nosuchhost:6379`` were still retrying after nine
minutes and ``"garbage"`` raised Ray's raw ValueError.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from synaflow.distributed import RayConnectionError, RayPipelineExecutor
from synaflow.distributed import connect as conn


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotRay:
    """A TCP server that accepts connections and answers nothing Ray understands."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            client.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            client.close()

    def close(self) -> None:
        self.stop = True
        self.sock.close()


@pytest.mark.parametrize("address, phrase", [
    (f"127.0.0.1:{closed_port()}", "nothing answers on port"),
    ("nosuchhost.invalid:6379", "does not resolve"),
    ("garbage", "that is not a Ray address"),
    ("http://127.0.0.1:6379", "that is not a Ray address"),
])
def test_bad_address_fails_at_once(address, phrase):
    started = time.monotonic()
    with pytest.raises(RayConnectionError) as info:
        conn.join(address, {}, timeout=30)
    assert time.monotonic() - started < 10
    text = str(info.value)
    assert f"Cannot join the Ray cluster at '{address}'" in text and phrase in text
    assert "To fix:" in text


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_server_that_is_not_ray(scheme):
    server = NotRay()
    try:
        started = time.monotonic()
        with pytest.raises(RayConnectionError, match="does not answer as a Ray"):
            conn.join(f"{scheme}127.0.0.1:{server.port}", {}, timeout=30)
        assert time.monotonic() - started < 10
    finally:
        server.close()


def test_ray_init_is_bounded_by_connect_timeout():
    """Whatever still makes ray.init wait is cut off after connect_timeout_s."""
    started = time.monotonic()
    with pytest.raises(RayConnectionError, match=r"no Ray answered there within 0.3 s "
                                                 r"\(connect_timeout_s\)"):
        conn._bounded(lambda: time.sleep(5), "10.0.0.1:6379", 0.3)
    assert time.monotonic() - started < 2
    with pytest.raises(KeyError):  # an error of the call itself is raised as it is
        conn._bounded(lambda: {}["x"], "10.0.0.1:6379", 5)


@pytest.mark.parametrize("bad", [0, -1, "5", True])
def test_connect_timeout_checked(bad):
    from typing import NamedTuple

    from synaflow import pipeline, step

    class P(NamedTuple):
        n: int = 1

    def one(n: int) -> int:
        return n

    with pytest.raises(ValueError, match="connect_timeout_s must be a number of seconds"):
        RayPipelineExecutor(pipeline(name="t", params=P, steps=[step("one", fn=one)]),
                            connect_timeout_s=bad)


def test_ray_run_with_bad_addresses_in_a_fresh_process():
    """The user's view: ray_run itself, no Ray running in the process."""
    script = textwrap.dedent(f"""
        import time
        from typing import NamedTuple
        from synaflow import pipeline, step
        from synaflow.distributed import ray_run, RayConnectionError

        class P(NamedTuple):
            n: int = 1

        def one(n: int) -> int:
            return n

        p = pipeline(name="t", params=P, steps=[step("one", fn=one)])
        for address in ("127.0.0.1:{closed_port()}", "nosuchhost.invalid:6379", "garbage"):
            started = time.monotonic()
            try:
                ray_run(p, P(), address=address)
            except RayConnectionError as exc:
                print(round(time.monotonic() - started, 1), address in str(exc))
    """)
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    lines = out.stdout.split()
    assert out.returncode == 0, out.stderr[-2000:]
    assert lines[1::2] == ["True"] * 3
    assert all(float(s) < 10 for s in lines[0::2])
