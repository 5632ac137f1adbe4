"""Adaptive micro-batching of EACH rows (a pure policy: told what happened, asked
how big the next batch may be).

A Ray call costs the driver about a millisecond of CPU (submit, wait, read the
outcome); a cheap row costs microseconds. Batches grow until one takes about
``target_s`` of work, so that cost stays a few percent even for slow rows (three 50 ms
rows make one batch); near the end they shrink, so every replica gets work until
the last rows and none idles while another finishes a big batch; and a batch's input stays
under ``max_bytes`` so large items are not held in the object store by the
dozen. A step can pin its batch size with ``ray={"batch_size": N}``.
"""
from __future__ import annotations

import math


class BatchSizer:
    """Mutable: ``per_row`` (EWMA seconds of work per row, None until measured),
    ``row_bytes`` (latest estimate of one input row's size)."""

    def __init__(self, fixed: int | None = None, *, target_s: float = 0.2, tail_s: float = 0.01,
                 max_rows: int = 8192, max_bytes: int = 1 << 20, depth: int = 2) -> None:
        self.fixed = fixed
        self.target_s = target_s
        self.tail_s = tail_s
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.depth = depth
        self.per_row: float | None = None
        self.row_bytes = 0

    def size(self, *, replicas: int, remaining: int | None = None) -> int:
        """Rows for the next batch. ``remaining``: rows known to be left, if known."""
        if self.fixed is not None:
            return self.fixed
        if self.per_row is None:
            return 1  # measure first: an expensive first row must not take a big batch
        rows = self.max_rows if self.per_row <= 0 else int(self.target_s / self.per_row)
        if self.row_bytes > 0:
            rows = min(rows, self.max_bytes // self.row_bytes)
        if remaining is not None and self.per_row > 0:
            # Several batches left per replica, the last ones small, but never a batch
            # of less than ``tail_s`` of work: splitting those only adds calls.
            floor = math.ceil(self.tail_s / self.per_row)
            rows = min(rows, max(floor, remaining // (max(1, replicas) * self.depth)))
        return max(1, min(rows, self.max_rows))

    def window(self, replicas: int) -> int:
        """Batches in flight at once: ``depth`` per replica keeps each one busy while
        the driver hears back (a batch holds at most ``max_bytes`` of input)."""
        return max(1, replicas * self.depth)

    def observe(self, rows: int, elapsed_s: float) -> None:
        if rows <= 0:
            return
        sample = elapsed_s / rows
        self.per_row = sample if self.per_row is None else 0.5 * self.per_row + 0.5 * sample

    def observe_bytes(self, rows: int, nbytes: int) -> None:
        if rows > 0 and nbytes > 0:
            self.row_bytes = nbytes // rows
