"""Live per-step progress for ``synaflow run`` on a terminal.

Three small parts:

- ``ProgressBoard`` holds the figures per step. It is fed by observer events
  (step STARTED / COMPLETED / FAILED, as a pipeline-level observer added through
  ``ExecutionOverrides``) and, while steps run, by polling the run's
  ``StepTracker`` counts (the local runners call ``progress(core)`` from their wait
  loop about every 0.1 s).
- ``ProgressRenderer`` redraws the board in place with plain ANSI codes
  (``\\r``, ``ESC[K``, cursor up), at most every ``interval`` seconds.
- ``ProgressDisplay`` wires both for one run. ``ProgressDisplay.create`` returns
  ``None`` unless stderr is a terminal and ``CI`` is unset: pipes, files and CI logs
  stay clean.

Columns: step, status, items (produced so far), items/s (since the step started),
in flight (items handed to an EACH step and not yet processed, ``n/bound`` for
bounded hand-offs; ``-`` when unknown) and errors.

    >>> import io
    >>> board = ProgressBoard(["load", "parse"], clock=lambda: 2.0)
    >>> board.rows["load"].status
    'pending'
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, TextIO

from ..core.observers import PipelineEvent, StepEvent
from ..core.types import StepMode

Clock = Callable[[], float]

# Runs shorter than this never show the table (only the final summary line).
SHOW_AFTER = 0.5


@dataclass
class StepRow:
    """What the display knows about one step."""

    name: str
    streaming: bool = True  # items arrive one by one (EACH or generator): a rate applies
    status: str = "pending"  # pending, running, done, failed, skipped
    items: int | None = None
    errors: int = 0
    in_flight: str = "-"
    started_at: float | None = None
    ended_at: float | None = None

    def rate(self, now: float) -> float | None:
        """Items per second since the step started (until it ended)."""
        if not self.streaming or not self.items or self.started_at is None:
            return None
        elapsed = (self.ended_at if self.ended_at is not None else now) - self.started_at
        return self.items / elapsed if elapsed > 0 else None

    def start(self, now: float) -> None:
        if self.status == "pending":
            self.status = "running"
        if self.started_at is None:
            self.started_at = now

    def end(self, status: str, now: float, items: int, errors: int) -> None:
        self.start(now)
        self.status, self.items, self.errors = status, items, errors
        self.in_flight = "-"
        if self.ended_at is None:
            self.ended_at = now


class ProgressBoard:
    """Per-step figures of one run; ``observe`` is an observer handler, ``poll`` reads trackers."""

    def __init__(self, steps: Iterable[str], *, streaming: Iterable[str] | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.clock = clock
        steps = list(steps)
        live = set(steps if streaming is None else streaming)
        self.rows: dict[str, StepRow] = {name: StepRow(name, name in live) for name in steps}
        self.started_at = clock()
        self.finished: str | None = None  # "completed" / "failed" once the run ended

    # -- events ------------------------------------------------------------------------
    def observe(self, ctx: Any) -> None:
        """Observer handler: step events move rows; pipeline events end the run."""
        event, now = ctx.event, self.clock()
        if event is PipelineEvent.STARTED:
            self.started_at = now  # the engine and its imports are loaded by now
        elif event is PipelineEvent.COMPLETED:
            self.finished = "completed"
        elif event is PipelineEvent.FAILED:
            self.finished = "failed"
        row = self.rows.get(getattr(ctx, "step_name", None) or "")
        if row is None:
            return
        if event is StepEvent.STARTED:
            row.start(now)
        elif event is StepEvent.COMPLETED:
            # A value step made one value, whatever its length (the event's count is
            # len() of a list/tuple/set, as 0.32.4 reported it: a NamedTuple is no 2 items).
            items = ctx.success_count if row.streaming else 1
            row.end("done", now, items, ctx.error_count)
        elif event is StepEvent.FAILED:
            row.end("failed", now, ctx.success_count, ctx.error_count)

    # -- polling -----------------------------------------------------------------------
    def poll(self, core: Any) -> None:
        """Live counts from a running ``RunCore`` (its trackers and skipped steps)."""
        now = self.clock()
        trackers = dict(core.trackers)
        for name in list(core.skipped):
            if name in self.rows and self.rows[name].status == "pending":
                self.rows[name].status = "skipped"
        for name, tracker in trackers.items():
            row = self.rows.get(name)
            if row is None or row.status in ("done", "failed") or not tracker.started:
                continue
            row.start(now)
            row.errors = tracker.errors
            row.items = _live_items(core.dag, name, tracker, trackers)
            row.in_flight = _in_flight(core.dag, name, trackers)

    def settle(self, result: Any) -> None:
        """Mark the steps a finished run skipped or never reached (no event says so), and
        take every step's final counts from the result, so the last frame and the
        summary line agree."""
        for name, stats in getattr(result, "steps", {}).items():
            row = self.rows.get(name)
            if row is None:
                continue
            if row.status in ("pending", "running") and stats.status in ("skipped", "not_run"):
                row.status = "skipped" if stats.status == "skipped" else "not run"
            if stats.status in ("ok", "error"):
                row.errors = stats.errors
                if row.streaming:
                    row.items = stats.items_out
                row.in_flight = "-"


def _rows_taken(tracker: Any) -> int:
    return tracker.success + tracker.errors


def _live_items(dag: Any, name: str, tracker: Any, trackers: dict[str, Any]) -> int | None:
    """EACH steps and generators count live (a runner that learns a generator's items
    only in batches is helped by the items its EACH consumers already took)."""
    node = dag.steps[name]
    if node.mode is StepMode.EACH:
        return tracker.success
    if not node.is_stream:
        return None  # one value, known when the call returns
    taken = [_rows_taken(trackers[c]) for c in node.consumers
             if c in trackers and name in dag.steps[c].each_mode_deps]
    return max([tracker.success, *taken]) if taken or tracker.success else None


def _in_flight(dag: Any, name: str, trackers: dict[str, Any]) -> str:
    """Items produced for an EACH step by its stream producers (EACH steps and
    generators, counted live), not yet processed by it."""
    node = dag.steps[name]
    if node.mode is not StepMode.EACH or name not in trackers:
        return "-"
    taken = _rows_taken(trackers[name])
    waiting, bound = None, 0
    for producer in node.each_mode_deps:
        p_node, p_tracker = dag.steps.get(producer), trackers.get(producer)
        if p_node is None or p_tracker is None or not p_node.is_stream:
            continue
        waiting = max(waiting or 0, p_tracker.success - taken, 0)
        plan = p_node.publish_plan
        if plan is not None and plan.handoff != "none":
            bound = max(bound, plan.max_in_flight)
    if waiting is None:
        return "-"
    return f"{waiting}/{bound}" if bound else str(waiting)


# -- rendering ----------------------------------------------------------------------------------
_HEADER = ("step", "status", "items", "items/s", "in flight", "errors")


def _fmt_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"


def _row_cells(row: StepRow, now: float) -> tuple[str, ...]:
    items = "-" if row.items is None else f"{row.items:,}"
    return (row.name, row.status, items, _fmt_rate(row.rate(now)), row.in_flight,
            str(row.errors))


class ProgressRenderer:
    """Draws a board in place on a terminal stream, at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO, *, title: str = "", clock: Clock = time.monotonic,
                 interval: float = 0.1, max_rows: int = 20, width: int | None = None) -> None:
        self.stream = stream
        self.title = title
        self.clock = clock
        self.interval = interval
        self.max_rows = max_rows
        self.width = width
        self._lines = 0
        self._last: float | None = None
        self.drawn = False

    def draw(self, board: ProgressBoard, *, force: bool = False) -> bool:
        """Redraw if ``interval`` passed (or ``force``); returns whether it drew."""
        now = self.clock()
        if not force and self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        lines = self.frame(board, now)
        out = [f"\x1b[{self._lines}A"] if self._lines else []
        out += [f"\r{line}\x1b[K\n" for line in lines]
        out.append("\x1b[J")
        self.stream.write("".join(out))
        self.stream.flush()
        self._lines = len(lines)
        self.drawn = True
        return True

    def clear(self) -> None:
        """Erase the frame so that other output takes its place; the next draw starts below."""
        if self._lines:
            self.stream.write(f"\x1b[{self._lines}A\r\x1b[J")
            self._lines = 0

    def frame(self, board: ProgressBoard, now: float) -> list[str]:
        """The lines of one frame: a title line, a header, one line per shown step."""
        rows, hidden = self._visible(list(board.rows.values()))
        table = [_HEADER] + [_row_cells(r, now) for r in rows]
        widths = [max(len(cells[i]) for cells in table) for i in range(len(_HEADER))]
        widths[0] = min(widths[0], 40)
        lines = [f"{self.title}  {now - board.started_at:.1f}s".strip()]
        for cells in table:
            name = cells[0] if len(cells[0]) <= widths[0] else cells[0][:widths[0] - 1] + "~"
            parts = [name.ljust(widths[0]), cells[1].ljust(widths[1])]
            parts += [c.rjust(w) for c, w in zip(cells[2:], widths[2:])]
            lines.append("  " + "  ".join(parts))
        if hidden:
            lines.append(f"  ... {hidden} more step(s)")
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        return [line[:max(width - 1, 10)] for line in lines]

    def _visible(self, rows: list[StepRow]) -> tuple[list[StepRow], int]:
        """Every row if they fit; otherwise running/failed first, then the rest, in order."""
        if len(rows) <= self.max_rows:
            return rows, 0
        urgent = {r.name for r in rows if r.status in ("running", "failed")}
        chosen = [r for r in rows if r.name in urgent][:self.max_rows]
        for r in rows:
            if len(chosen) >= self.max_rows:
                break
            if r.name not in urgent:
                chosen.append(r)
        keep = {r.name for r in chosen}
        return [r for r in rows if r.name in keep], len(rows) - len(keep)


def is_interactive(stream: Any = None, env: dict[str, str] | None = None) -> bool:
    """A terminal that is not a CI log (``CI`` unset) and not ``TERM=dumb``."""
    stream = sys.stderr if stream is None else stream
    env = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    try:
        tty = bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False
    return tty and not env.get("CI") and env.get("TERM") != "dumb"


class _Interleaved:
    """Stands in for ``sys.stdout``/``sys.stderr`` while the display is on screen.

    Whole lines written by the pipeline (prints, the ``logging`` last-resort handler)
    first erase the frame, so they scroll above it instead of being overdrawn.
    """

    def __init__(self, display: "ProgressDisplay", inner: TextIO) -> None:
        self._display = display
        self._inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        with self._display._lock:
            self._pending += text
            if "\n" in self._pending:
                done, _, self._pending = self._pending.rpartition("\n")
                self._display.renderer.clear()
                self._inner.write(done + "\n")
                self._inner.flush()
        return len(text)

    def flush(self) -> None:
        with self._display._lock:
            if self._pending:
                self._display.renderer.clear()
                self._inner.write(self._pending)
                self._pending = ""
            self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ProgressDisplay:
    """Board and renderer for one run: ``observer`` and ``poll`` feed it, ``close`` ends it.

    ``start`` routes other terminal output around the frame until ``close``.
    """

    def __init__(self, steps: Iterable[str], stream: TextIO, *, title: str = "",
                 streaming: Iterable[str] | None = None, clock: Clock = time.monotonic,
                 interval: float = 0.1, show_after: float = 0.0) -> None:
        self.board = ProgressBoard(steps, streaming=streaming, clock=clock)
        self.renderer = ProgressRenderer(stream, title=title, clock=clock, interval=interval)
        self.show_after = show_after
        self._lock = threading.RLock()
        self._broken = False
        self._saved: dict[str, Any] = {}
        self.polled = False

    @classmethod
    def create(cls, dag: Any, stream: TextIO | None = None, *,
               env: dict[str, str] | None = None, **options: Any) -> "ProgressDisplay | None":
        """A display on ``stream`` (stderr) when it is interactive, else ``None``."""
        stream = sys.stderr if stream is None else stream
        if not is_interactive(stream, env):
            return None
        streaming = [n for n, node in dag.steps.items()
                     if node.mode is StepMode.EACH or node.is_stream]
        options.setdefault("show_after", SHOW_AFTER)
        return cls(list(dag.steps), stream, title=f"synaflow: {dag.name}", streaming=streaming,
                   **options)

    def observer(self, ctx: Any) -> None:
        """Pipeline-level observer handler (called from whichever thread emits)."""
        with self._lock:
            self.board.observe(ctx)
            if not self.polled:  # runners without the polling hook redraw on events
                self._draw()

    def poll(self, core: Any) -> None:
        """The runner's ``progress`` callback: read live counts, redraw if due."""
        with self._lock:
            self.polled = True
            try:
                self.board.poll(core)
            except Exception:  # a display problem must never end the run
                self._broken = True
                return
            self._draw()

    def _draw(self, force: bool = False) -> None:
        if self._broken:
            return
        if not force and self.board.clock() - self.board.started_at < self.show_after:
            return
        try:
            self.renderer.draw(self.board, force=force)
        except (OSError, ValueError):
            self._broken = True

    def start(self) -> None:
        """Route ``sys.stdout``/``sys.stderr`` writes that reach this terminal around the frame."""
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if current is self.renderer.stream or (name == "stdout" and is_interactive(current)):
                self._saved[name] = current
                setattr(sys, name, _Interleaved(self, current))

    def close(self, result: Any = None) -> None:
        """Restore the streams and draw the final frame (it stays on screen)."""
        with self._lock:
            if result is not None:
                self.board.settle(result)
            for name, stream in self._saved.items():
                proxy = getattr(sys, name)
                if isinstance(proxy, _Interleaved):
                    proxy.flush()
                setattr(sys, name, stream)
            self._saved.clear()
            if self.renderer.drawn:  # short runs never showed the table: leave no trace
                self._draw(force=True)
