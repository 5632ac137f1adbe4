"""Stopping a run's calls where they run (``synaflow.distributed.stopping``), without
Ray: the board is this process's set, as in the debug mode."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from synaflow.distributed import aio, stopping


def spinner(log: list):
    @stopping.stoppable(lambda: "stopped")
    def spin(box: tuple, seconds: float) -> str:
        log.append("started")
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            return "done"
        finally:
            log.append("cleaned up")
    return spin


def in_thread(fn, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn(*args)))
    thread.start()
    return thread, out


def test_a_stopped_slot_interrupts_its_long_call():
    """The call notices once it has run FIRST_S, runs its ``finally``, and returns
    the stopped value instead of finishing its 30 s."""
    log: list = []
    thread, out = in_thread(spinner(log), ("run-a:step",), 30.0)
    time.sleep(0.05)
    stopping.stop_locally("run-a:step")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert out == {"value": "stopped"}
    assert log == ["started", "cleaned up"]


def test_other_slots_run_on():
    log: list = []
    thread, out = in_thread(spinner(log), ("run-b:step",), 1.0)
    time.sleep(0.05)
    stopping.stop_locally("run-b:other")
    stopping.stop_locally("run-c:step")
    thread.join(timeout=10)
    assert out == {"value": "done"}


def test_a_known_stopped_slot_does_not_start():
    log: list = []
    stopping.stop_locally("run-d:step")
    assert spinner(log)(("run-d:step",), 5.0) == "stopped"
    assert log == []


def test_long_calls_ask_less_often():
    """Every 0.3 s at first; a twentieth of the call's age later on; at most 2 s."""
    assert [stopping.interval(age) for age in (0.3, 6.0, 10.0, 40.0, 3600.0)] == [
        0.3, 0.3, 0.5, 2.0, 2.0]


def test_fused_chains_belong_to_their_first_stage():
    assert stopping.slot_of((["run:a", 1], ["run:b", 2])) == "run:a"
    assert stopping.slot_of(("run:a", [1], False)) == "run:a"


def test_the_interruption_never_escapes_the_call():
    """Interrupting a slot's calls over and over while they start and end: each is
    either interrupted inside (stopped value) or not at all; ``RunStopped`` never
    reaches the caller after a call returned."""
    log: list = []
    spin = spinner(log)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            stopping.interrupt("run-e:step")

    thread = threading.Thread(target=hammer)
    thread.start()
    outcomes = []
    try:
        for _ in range(20000):
            outcomes.append(spin(("run-e:step",), 0.00002))
            sum(range(20))  # bytecodes where a leaked exception would surface
    finally:
        stop.set()
        thread.join()
    for _ in range(20000):
        pass
    assert set(outcomes) <= {"stopped", "done"} and "stopped" in outcomes
    assert log.count("started") == log.count("cleaned up")


def test_a_stop_right_after_registering_is_caught(monkeypatch):
    """The exception can arrive as soon as the call is registered, before the step's
    function runs: it is still caught there (it once escaped from this window)."""
    real_enter = stopping._enter

    def enter_then_interrupted(call) -> None:
        real_enter(call)
        stopping.interrupt(call.slot)
        sum(range(10))  # bytecodes: the exception arrives here, inside _enter

    monkeypatch.setattr(stopping, "_enter", enter_then_interrupted)
    log: list = []
    assert spinner(log)(("run-i:step",), 0.0) == "stopped"
    assert log == [] and not stopping._ACTIVE


def test_an_async_call_waiting_on_the_loop_is_stopped():
    """A call waiting in ``run_async`` is interrupted too, and the coroutine on the
    loop is cancelled (it would otherwise sleep on)."""
    seen: list = []

    async def nap() -> str:
        try:
            await asyncio.sleep(30)
            return "done"
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    @stopping.stoppable(lambda: "stopped")
    def call(box: tuple) -> str:
        return aio.run_async(nap())

    thread, out = in_thread(call, ("run-f:step",))
    time.sleep(0.05)
    stopping.stop_locally("run-f:step")
    thread.join(timeout=10)
    assert out == {"value": "stopped"}
    deadline = time.monotonic() + 5
    while not seen:
        assert time.monotonic() < deadline, "the coroutine was not cancelled"
        time.sleep(0.01)


def test_user_code_sees_a_base_exception():
    """``except Exception`` in a step does not swallow the stop."""
    caught: list = []

    @stopping.stoppable(lambda: "stopped")
    def careful(box: tuple) -> str:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                sum(range(100))
            except Exception as exc:  # noqa: BLE001 - the point of the test
                caught.append(exc)
        return "done"

    thread, out = in_thread(careful, ("run-g:step",))
    stopping.stop_locally("run-g:step")
    thread.join(timeout=10)
    assert out == {"value": "stopped"} and caught == []
    assert issubclass(stopping.RunStopped, BaseException)
    assert not issubclass(stopping.RunStopped, Exception)


def test_a_forked_child_watches_its_own_calls():
    """After a fork the child starts its own watcher when it makes a call, so its
    calls can be stopped too."""
    import os

    log: list = []
    spinner(log)(("run-h:warm",), 0.0)  # the parent has a watcher now
    assert stopping._WATCHER
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a long call, stopped from the child's own board
        os.close(read)
        try:
            thread, out = in_thread(spinner([]), ("run-h:step",), 30.0)
            time.sleep(0.05)
            stopping.stop_locally("run-h:step")
            thread.join(timeout=10)
            os.write(write, str(out.get("value")).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == "stopped"


@pytest.fixture(autouse=True)
def _quiet_boards():
    yield
    stopping._LOCAL.clear()


def test_a_process_remembers_the_latest_stops():
    """At most KNOWN stopped slots are kept, the oldest forgotten first."""
    for n in range(stopping.KNOWN + 5):
        stopping.stop_locally(f"run-many:{n}")
    assert len(stopping._LOCAL) == stopping.KNOWN
    assert "run-many:0" not in stopping._LOCAL and f"run-many:{stopping.KNOWN + 4}" \
        in stopping._LOCAL
