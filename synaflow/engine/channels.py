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
slowest live consumer (``max_in_flight``), plus at most one item held back for a
full branch whose reader is not reading (see ``poll``). Every item reaches every
live branch, in source order. A closed branch (its consumer finished, failed or
was skipped) no longer holds the others back.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable

ITEM, END, ERROR, PULL, WAIT = "item", "end", "error", "pull", "wait"


class FanoutState:
    """Per-consumer bounded buffers over one source.

    Mutable state: ``buffers`` (consumer -> deque of pending items), ``closed``
    (consumers that left), ``pulling`` (a caller is reading the source), ``done``
    (source exhausted), ``error`` (source or run failure, delivered after buffered
    items), ``version`` (bumped on every change, for waiters), ``pulled_count``,
    ``peak`` (largest buffer seen, for tests and metrics), ``sizes`` (items per
    buffer when entries are weighted by ``weigh``; a weighted producer asks
    ``room()`` before ``pulled`` so the bound holds in items, not entries),
    ``held`` (consumer -> the one item pulled while its buffer was full, delivered
    after its buffer; unweighted only), ``reading`` (consumers whose last poll
    returned an item: they are still handling it and will poll again).
    """

    def __init__(self, producer: str, consumers: Iterable[str], capacity: int, *,
                 weigh: Callable[[Any], int] | None = None) -> None:
        self.producer = producer
        self.capacity = max(1, capacity)
        self.buffers: dict[str, deque] = {c: deque() for c in consumers}
        # Hook for transports whose entries carry several items (the Ray runner's
        # batch slices): ``weigh(entry)`` says how many; the bound counts items.
        self.weigh = weigh
        self.sizes: dict[str, int] = {c: 0 for c in self.buffers}
        self.closed: set[str] = set()
        self.pulling = False
        self.done = False
        self.error: BaseException | None = None
        self.version = 0
        self.pulled_count = 0
        self.peak = 0
        self.held: dict[str, Any] = {}
        self.reading: set[str] = set()

    def _live(self) -> list[str]:
        return [c for c in self.buffers if c not in self.closed]

    def poll(self, consumer: str) -> tuple[str, Any]:
        buf = self.buffers[consumer]
        self.reading.discard(consumer)
        if consumer in self.closed:
            return END, None
        if buf:
            self.version += 1
            entry = buf.popleft()
            if self.weigh is not None:
                self.sizes[consumer] -= self.weigh(entry)
            self.reading.add(consumer)
            return ITEM, entry
        if consumer in self.held:
            self.version += 1
            self.reading.add(consumer)
            return ITEM, self.held.pop(consumer)
        if self.error is not None:
            return ERROR, self.error
        if self.done:
            return END, None
        if self.pulling:
            return WAIT, f"'{self.producer}' is producing the next item"
        full = [c for c in self._live()
                if self.size(c) + (c in self.held) >= self.capacity]
        if full and not self._may_hold(full):
            return WAIT, (f"handoff {self.producer}->{full[0]} full "
                          f"({self.capacity}/{self.capacity} in flight)")
        self.pulling = True
        return PULL, None

    def _may_hold(self, full: list[str]) -> bool:
        """May the caller pull although ``full`` branches have no room? Yes, once, if
        none of their readers is reading: the item is held for them, and if the source
        is over instead, everybody learns it (a step reading two branches one after
        the other then completes with ``max_in_flight`` >= the stream length, as in
        0.32.4, whose pump held that item in its hand). A reader that is reading will
        poll again and make room; holding then would only run further ahead."""
        return (self.weigh is None and not self.held
                and not any(c in self.reading for c in full))

    def pulled(self, item: Any) -> None:
        self.pulling = False
        self.pulled_count += 1
        if self.error is not None:  # aborted while this item was being pulled: drop it
            self.version += 1
            return
        if self.weigh is None:
            for c in self._live():
                buf = self.buffers[c]
                if c in self.held:  # room came back: the held item goes first
                    buf.append(self.held.pop(c))
                if len(buf) >= self.capacity:
                    self.held[c] = item
                    continue
                buf.append(item)
                if len(buf) > self.peak:
                    self.peak = len(buf)
        else:  # weighted entries: the producer checked ``room()`` first
            weight = self.weigh(item)
            for c in self._live():
                self.buffers[c].append(item)
                self.sizes[c] += weight
                self.peak = max(self.peak, self.sizes[c])
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

    def give_back(self, consumer: str, entry: Any) -> None:
        """Put (the rest of) a polled entry back at the front of ``consumer``'s buffer:
        a weighted transport splits an entry its consumer can only partly take."""
        if consumer in self.closed:
            return
        self.buffers[consumer].appendleft(entry)
        if self.weigh is not None:
            self.sizes[consumer] += self.weigh(entry)
        self.version += 1

    def close(self, consumer: str) -> None:
        """The consumer left; its buffer is dropped and no longer holds others back."""
        self.closed.add(consumer)
        self.buffers[consumer].clear()
        self.sizes[consumer] = 0
        self.held.pop(consumer, None)
        self.version += 1

    def abort(self, exc: BaseException) -> None:
        """The run is ending: waiters wake and raise ``exc``; buffers are dropped."""
        for c, buf in self.buffers.items():
            buf.clear()
            self.sizes[c] = 0
        self.held.clear()
        self.failed(exc)

    def in_flight(self, consumer: str) -> int:
        return self.size(consumer)

    def size(self, consumer: str) -> int:
        """Items buffered for ``consumer`` (entries, unless ``weigh`` is set)."""
        return len(self.buffers[consumer]) if self.weigh is None else self.sizes[consumer]

    def room(self) -> int:
        """How many more items the producer may emit now without breaking the bound."""
        live = self._live()
        return max(0, self.capacity - max((self.size(c) for c in live), default=0))

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None or not self._live()
