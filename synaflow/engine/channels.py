"""Bounded hand-off between a stream producer and its consumers, as pure state.

``FanoutState`` decides; it never blocks. A driver asks ``poll(consumer)`` and gets
one of:

- ``(ITEM, x)``: deliver ``x``;
- ``(END, None)``: the stream is over for this consumer;
- ``(ERROR, exc)``: raise ``exc`` (after every buffered item was delivered);
- ``(PULL, None)``: this caller must pull the next item from the source now and
  report it with ``pulled`` / ``exhausted`` / ``failed``;
- ``(WAIT, reason)``: nothing to do yet; wait until ``version`` changes.

Invariant (checked by property tests): a live branch never holds more than
``capacity`` items, so a producer is never more than ``capacity`` items ahead of its
slowest live consumer (``max_in_flight``). Every item reaches every live branch,
in source order. A closed branch (its consumer finished, failed or was skipped)
no longer holds the others back.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable

ITEM, END, ERROR, PULL, WAIT = "item", "end", "error", "pull", "wait"


class FanoutState:
    """Per-consumer bounded buffers over one source.

    Mutable state: ``buffers`` (consumer -> deque of pending items), ``closed``
    (consumers that left), ``pulling`` (a caller is reading the source), ``done``
    (source exhausted), ``error`` (source or run failure, delivered after buffered
    items), ``version`` (bumped on every change, for waiters), ``pulled_count``,
    ``peak`` (largest buffer seen, for tests and metrics).
    """

    def __init__(self, producer: str, consumers: Iterable[str], capacity: int) -> None:
        self.producer = producer
        self.capacity = max(1, capacity)
        self.buffers: dict[str, deque] = {c: deque() for c in consumers}
        self.closed: set[str] = set()
        self.pulling = False
        self.done = False
        self.error: BaseException | None = None
        self.version = 0
        self.pulled_count = 0
        self.peak = 0

    def _live(self) -> list[str]:
        return [c for c in self.buffers if c not in self.closed]

    def poll(self, consumer: str) -> tuple[str, Any]:
        buf = self.buffers[consumer]
        if consumer in self.closed:
            return END, None
        if buf:
            self.version += 1
            return ITEM, buf.popleft()
        if self.error is not None:
            return ERROR, self.error
        if self.done:
            return END, None
        if self.pulling:
            return WAIT, f"'{self.producer}' is producing the next item"
        full = [c for c in self._live() if len(self.buffers[c]) >= self.capacity]
        if full:
            return WAIT, (f"handoff {self.producer}->{full[0]} full "
                          f"({self.capacity}/{self.capacity} in flight)")
        self.pulling = True
        return PULL, None

    def pulled(self, item: Any) -> None:
        self.pulling = False
        self.pulled_count += 1
        for c in self._live():
            buf = self.buffers[c]
            buf.append(item)
            if len(buf) > self.peak:
                self.peak = len(buf)
        self.version += 1

    def exhausted(self) -> None:
        self.pulling = False
        self.done = True
        self.version += 1

    def failed(self, exc: BaseException) -> None:
        """The source raised: every live branch gets ``exc`` after its buffered items."""
        self.pulling = False
        if self.error is None:
            self.error = exc
        self.version += 1

    def close(self, consumer: str) -> None:
        """The consumer left; its buffer is dropped and no longer holds others back."""
        self.closed.add(consumer)
        self.buffers[consumer].clear()
        self.version += 1

    def abort(self, exc: BaseException) -> None:
        """The run is ending: waiters wake and raise ``exc``; buffers are dropped."""
        for buf in self.buffers.values():
            buf.clear()
        self.failed(exc)

    def in_flight(self, consumer: str) -> int:
        return len(self.buffers[consumer])

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None or not self._live()
