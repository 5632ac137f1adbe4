"""The live progress display: board, renderer (fake TTY, fake clock), runner hook, quietness."""
from __future__ import annotations

import asyncio
import io
import sys
from types import SimpleNamespace
from typing import NamedTuple

import pytest

from synaflow import StepMode, pipeline, run, step
from synaflow.cli import main
from synaflow.cli.progress import (ProgressBoard, ProgressDisplay, ProgressRenderer,
                                   _Interleaved, is_interactive)
from synaflow.core.observers import (PipelineCompletedContext, PipelineEvent,
                                     StepCompletedContext, StepEvent, StepFailedContext,
                                     StepStartedContext)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def started(name):
    return StepStartedContext("p", "r", StepEvent.STARTED, step_name=name)


def completed(name, success, errors=0):
    return StepCompletedContext("p", "r", StepEvent.COMPLETED, step_name=name,
                                success_count=success, error_count=errors)


# -- board: events --------------------------------------------------------------------------------
def test_board_follows_events():
    clock = Clock()
    board = ProgressBoard(["load", "parse"], clock=clock)
    board.observe(started("load"))
    clock.now += 2
    board.observe(completed("load", 50, 1))
    row = board.rows["load"]
    assert (row.status, row.items, row.errors) == ("done", 50, 1)
    assert row.rate(clock.now + 10) == 25.0  # the rate stops at the end of the step
    assert board.rows["parse"].status == "pending"


def test_board_failed_and_pipeline_end():
    board = ProgressBoard(["a"], clock=Clock())
    board.observe(StepFailedContext("p", "r", StepEvent.FAILED, step_name="a",
                                    success_count=3, error_count=1))
    board.observe(PipelineCompletedContext("p", "r", PipelineEvent.COMPLETED))
    assert (board.rows["a"].status, board.rows["a"].items) == ("failed", 3)
    assert board.finished == "completed"


def test_value_steps_have_no_rate():
    clock = Clock()
    board = ProgressBoard(["value"], streaming=[], clock=clock)
    board.observe(started("value"))
    clock.now += 1
    board.observe(completed("value", 2))  # e.g. a 2-field NamedTuple: len() is 2
    assert board.rows["value"].rate(clock.now) is None
    assert board.rows["value"].items == 1  # one value, not "2 items" (issue 24, item 12)


# -- board: polling trackers -------------------------------------------------------------------------
def tracker(success=0, errors=0, started=True):
    return SimpleNamespace(success=success, errors=errors, started=started)


def node(mode=StepMode.ALL, stream=False, deps=(), consumers=(), handoff="none", bound=1):
    plan = SimpleNamespace(handoff=handoff, max_in_flight=bound)
    return SimpleNamespace(mode=mode, is_stream=stream, each_mode_deps=tuple(deps),
                           consumers=tuple(consumers), publish_plan=plan)


def fake_core(steps, trackers, skipped=()):
    return SimpleNamespace(dag=SimpleNamespace(steps=steps), trackers=trackers,
                           skipped={name: "x" for name in skipped})


def test_poll_live_counts_and_in_flight():
    steps = {
        "gen": node(stream=True, consumers=["a"]),
        "a": node(StepMode.EACH, stream=True, deps=["gen"], consumers=["b"],
                  handoff="bounded_iterator", bound=8),
        "b": node(StepMode.EACH, deps=["a"], consumers=["total"]),
        "total": node(),
        "never": node(),
    }
    core = fake_core(steps, {"gen": tracker(20), "a": tracker(12, 1), "b": tracker(9, 0),
                             "total": tracker()}, skipped=["never"])
    board = ProgressBoard(steps, clock=Clock())
    board.poll(core)
    rows = board.rows
    assert rows["gen"].items == 20  # generators count live
    # 20 produced, 13 taken by 'a' (12 ok, 1 failed): 7 wait in its hand-off
    assert (rows["a"].items, rows["a"].errors, rows["a"].in_flight) == (12, 1, "7")
    assert (rows["b"].items, rows["b"].in_flight) == (9, "3/8")
    assert (rows["total"].status, rows["total"].items) == ("running", None)
    assert rows["never"].status == "skipped"
    # A runner that learns a generator's count late: its consumers' takings stand in.
    core.trackers["gen"] = tracker(0)
    board = ProgressBoard(steps, clock=Clock())
    board.poll(core)
    assert board.rows["gen"].items == 13 and board.rows["a"].in_flight == "0"


def test_poll_ignores_unstarted_and_finished():
    steps = {"a": node(StepMode.EACH), "b": node(StepMode.EACH)}
    board = ProgressBoard(steps, clock=Clock())
    board.observe(completed("b", 5))
    board.poll(fake_core(steps, {"a": tracker(started=False), "b": tracker(99)}))
    assert board.rows["a"].status == "pending"
    assert board.rows["b"].items == 5


# -- renderer ---------------------------------------------------------------------------------------------
def board_with_rows(clock):
    board = ProgressBoard(["documents", "tokens"], clock=clock)
    board.observe(started("documents"))
    return board


def test_first_frame_layout():
    clock = Clock()
    stream = FakeTTY()
    board = board_with_rows(clock)
    clock.now += 1.5
    ProgressRenderer(stream, title="synaflow: wc", clock=clock, width=200).draw(board)
    text = stream.getvalue()
    assert not text.startswith("\x1b[")  # nothing to move over yet
    lines = text.split("\n")
    assert lines[0] == "\rsynaflow: wc  1.5s\x1b[K"
    assert lines[1].split() == ["step", "status", "items", "items/s", "in", "flight",
                                "errors\x1b[K"]
    assert lines[2].split()[:2] == ["documents", "running"]
    assert lines[3].split() == ["tokens", "pending", "-", "-", "-", "0\x1b[K"]
    assert text.endswith("\x1b[J")


def test_redraw_moves_cursor_up():
    clock, stream = Clock(), FakeTTY()
    board = board_with_rows(clock)
    renderer = ProgressRenderer(stream, clock=clock, interval=0.1, width=200)
    assert renderer.draw(board)
    first = len(stream.getvalue())
    clock.now += 0.05
    assert not renderer.draw(board)  # within the interval: nothing written
    assert len(stream.getvalue()) == first
    clock.now += 0.1
    assert renderer.draw(board)
    assert stream.getvalue()[first:].startswith("\x1b[4A\r")


def test_forced_draw_ignores_interval():
    clock, stream = Clock(), FakeTTY()
    renderer = ProgressRenderer(stream, clock=clock, width=200)
    board = board_with_rows(clock)
    assert renderer.draw(board) and renderer.draw(board, force=True)


def test_clear_erases_frame():
    clock, stream = Clock(), FakeTTY()
    renderer = ProgressRenderer(stream, clock=clock, width=200)
    renderer.draw(board_with_rows(clock))
    stream.seek(0), stream.truncate()
    renderer.clear()
    assert stream.getvalue() == "\x1b[4A\r\x1b[J"
    renderer.clear()
    assert stream.getvalue() == "\x1b[4A\r\x1b[J"  # nothing left to erase


def test_many_steps_are_summarised():
    clock = Clock()
    names = [f"s{i}" for i in range(30)]
    board = ProgressBoard(names, clock=clock)
    board.observe(started("s29"))
    frame = ProgressRenderer(FakeTTY(), clock=clock, max_rows=5, width=200).frame(board, 0)
    shown = [line.split()[0] for line in frame[2:-1]]
    assert shown == ["s0", "s1", "s2", "s3", "s29"]
    assert frame[-1] == "  ... 25 more step(s)"


def test_lines_fit_terminal_width():
    clock = Clock()
    board = ProgressBoard(["a" * 80], clock=clock)
    frame = ProgressRenderer(FakeTTY(), clock=clock, width=50).frame(board, 0)
    assert max(len(line) for line in frame) <= 49
    assert "~" in frame[2]


# -- interactivity ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream,env,expected", [
    (FakeTTY(), {}, True),
    (FakeTTY(), {"CI": "true"}, False),
    (FakeTTY(), {"TERM": "dumb"}, False),
    (io.StringIO(), {}, False),
    (object(), {}, False),
])
def test_is_interactive(stream, env, expected):
    assert is_interactive(stream, env) is expected


def test_display_only_on_terminals():
    dag = SimpleNamespace(name="p", steps={})
    assert ProgressDisplay.create(dag, io.StringIO(), env={}) is None
    assert ProgressDisplay.create(dag, FakeTTY(), env={"CI": "1"}) is None
    assert isinstance(ProgressDisplay.create(dag, FakeTTY(), env={}), ProgressDisplay)


def test_display_survives_a_broken_poll():
    display = ProgressDisplay(["a"], FakeTTY(), clock=Clock())
    display.poll(object())  # not a RunCore: the display gives up quietly
    display.close()


def test_interleaved_output_scrolls_above(monkeypatch):
    clock, stream = Clock(), FakeTTY()
    display = ProgressDisplay(["a"], stream, clock=clock)
    monkeypatch.setattr(sys, "stderr", stream)
    display.start()
    assert isinstance(sys.stderr, _Interleaved)
    display.observer(started("a"))
    stream.seek(0), stream.truncate()
    print("partial", end="", file=sys.stderr)
    assert stream.getvalue() == ""  # held until the line is complete
    print(" line", file=sys.stderr)
    assert stream.getvalue() == "\x1b[3A\r\x1b[Jpartial line\n"
    display.close()
    assert sys.stderr is stream


# -- the runner hook ------------------------------------------------------------------------------------------------
class N(NamedTuple):
    n: int = 5


def numbers(n: int) -> list[int]:
    return list(range(n))


async def anumbers(n: int) -> list[int]:
    return list(range(n))


def double(number: int) -> int:
    return 2 * number


async def adouble(number: int) -> int:
    return 2 * number


def _pipe(fn, source=numbers):
    return pipeline(name="hook", params=N, steps=[step("numbers", fn=source),
                                                  step("doubled", fn=fn, mode=StepMode.EACH)])


def test_sync_runner_calls_progress():
    seen = []
    run(_pipe(double), N(), progress=seen.append)
    assert seen and all(hasattr(core, "trackers") for core in seen)


def test_async_runner_calls_progress():
    from synaflow import async_run

    seen = []
    asyncio.run(async_run(_pipe(adouble, anumbers), N(), progress=seen.append))
    assert seen and hasattr(seen[0], "trackers")


def test_runners_accept_no_progress():
    assert run(_pipe(double), N()).outputs["doubled"] == [0, 2, 4, 6, 8]


# -- the CLI ------------------------------------------------------------------------------------------------------
def test_quiet_when_not_a_terminal(capsys):
    code = main(["--catalog", "examples.catalog", "run", "wordcount", "--document-count", "3"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (0, "", "")


def test_terminal_run_shows_progress_and_summary(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr("synaflow.cli.progress.SHOW_AFTER", 0.0)
    code = main(["--catalog", "examples.catalog", "run", "wordcount", "--document-count", "3"])
    text = tty.getvalue()
    assert code == 0 and sys.stderr is tty
    assert "synaflow: wordcount" in text and "\x1b[K" in text
    final = text.rsplit("\x1b[J", 1)[0]
    assert "tokens     done" in final or "tokens  done" in " ".join(final.split())
    assert text.rstrip().endswith("errors)")
    assert "synaflow: pipeline 'wordcount' succeeded in " in text


def test_short_runs_show_only_the_summary(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr("synaflow.cli.progress.SHOW_AFTER", 60.0)
    main(["--catalog", "examples.catalog", "run", "flaky", "--items", "2"])
    assert "\x1b[" not in tty.getvalue()
    assert tty.getvalue().startswith("synaflow: pipeline 'flaky' succeeded in ")


def test_display_waits_before_showing():
    clock, stream = Clock(), FakeTTY()
    display = ProgressDisplay(["a"], stream, clock=clock, show_after=0.5)
    display.observer(started("a"))
    assert stream.getvalue() == ""
    clock.now += 0.6
    display.observer(completed("a", 3))
    assert "\x1b[K" in stream.getvalue()


def test_no_progress_flag(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr("synaflow.cli.progress.SHOW_AFTER", 0.0)
    main(["--catalog", "examples.catalog", "run", "flaky", "--items", "2", "--no-progress"])
    assert "\x1b[" not in tty.getvalue()


def test_ci_env_is_quiet(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setenv("CI", "true")
    main(["--catalog", "examples.catalog", "run", "flaky", "--items", "2"])
    assert tty.getvalue() == ""


def test_board_clock_starts_with_the_pipeline():
    from synaflow.core.observers import PipelineStartedContext

    clock = Clock()
    board = ProgressBoard(["a"], clock=clock)
    clock.now += 5
    board.observe(PipelineStartedContext("p", "r", PipelineEvent.STARTED))
    assert board.started_at == clock.now


def test_settle_marks_skipped_steps():
    board = ProgressBoard(["a", "b", "c"], clock=Clock())
    board.observe(completed("a", 1))
    result = SimpleNamespace(steps={
        "a": SimpleNamespace(status="error", items_out=7, errors=2),
        "b": SimpleNamespace(status="skipped", items_out=0, errors=0),
        "c": SimpleNamespace(status="not_run", items_out=0, errors=0)})
    board.settle(result)
    assert [r.status for r in board.rows.values()] == ["done", "skipped", "not run"]
    # The last frame shows the result's own counts, as the summary line does.
    assert (board.rows["a"].items, board.rows["a"].errors) == (7, 2)
