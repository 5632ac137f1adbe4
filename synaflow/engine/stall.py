"""The stall guard: turns a run that cannot progress into an error that says why.

Drivers register every wait (``waiting``) and count progress (``progress``). The
run is stalled when every active worker has been waiting, with no progress, for
``grace`` seconds (a true deadlock: nobody is left to wake anyone), or when
nothing progressed for ``stall_timeout`` seconds (if set). The clock is injected
so tests never sleep.
"""
from __future__ import annotations

import time
from typing import Callable


class StallGuard:
    """Mutable: ``waiting`` (token -> what it waits for), ``progress`` (a counter),
    ``_seen`` (progress at the last check) and ``_since`` (when it last changed)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, grace: float = 0.5,
                 stall_timeout: float | None = None) -> None:
        self.clock = clock
        self.grace = grace
        self.stall_timeout = stall_timeout
        self.waiting: dict[object, str] = {}
        self.progress = 0
        self._seen = -1
        self._since = clock()

    def wait_begins(self, token: object, reason: str) -> None:
        self.waiting[token] = reason

    def wait_ends(self, token: object) -> None:
        self.waiting.pop(token, None)
        self.progress += 1

    def check(self, active_workers: int,
              busy: Callable[[float], list[str]] | None = None) -> str | None:
        """A description of the stall, or None while the run can still progress.

        ``busy(idle_s)``: what the steps that are inside a call are doing (named in
        the message when no step waits on a hand-off)."""
        now = self.clock()
        if self.progress != self._seen:
            self._seen, self._since = self.progress, now
            return None
        idle = now - self._since
        all_waiting = active_workers > 0 and len(self.waiting) >= active_workers
        if all_waiting and idle >= self.grace:
            return self.describe(f"Deadlock: every running step has waited {idle:.1f} s")
        if self.stall_timeout is not None and idle >= self.stall_timeout:
            shown = f"{idle:.1f}".rstrip("0").rstrip(".")
            return self.describe(f"No progress for {shown} s", busy(idle) if busy else [])
        return None

    def describe(self, head: str, busy: list[str] | None = None) -> str:
        reasons = sorted(set(self.waiting.values()))
        blocked = "; ".join(reasons + sorted(busy or [])) \
            or "no step is waiting on a hand-off (a step is busy)"
        hint = "raise stall_timeout if a step is just slow"
        if any("full" in r for r in reasons):
            hint = ("a step that reads two streams of one fan-out one after the other needs "
                    "max_in_flight of at least the stream length; read them in lockstep "
                    "(zip) or annotate them list[...]; " + hint)
        return f"{head}. Blocked: {blocked}. Fix: {hint}"
