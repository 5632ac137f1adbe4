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

Byte bound (``max_bytes``, the step's ``max_in_flight_bytes``; issue #5): a live
branch also holds at most ``max_bytes`` of items, each measured once when it is
pulled, except one item larger than the bound on its own, which passes alone so that
nothing deadlocks (``fits``). An item's size is known only once it exists, so the
next item is asked for only while one more item of the last measured size still
fits; an item that turns out bigger than the room left is held back for that branch
(the same "plus one held" as for items) and joins the buffer as soon as it fits.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable

from .sizes import nbytes

ITEM, END, ERROR, PULL, WAIT = "item", "end", "error", "pull", "wait"


def fits(limit: int, used: int, cost: int) -> bool:
    """May an item of ``cost`` bytes join a buffer holding ``used`` bytes under a bound
    of ``limit``? Always into an empty buffer: an item bigger than the bound passes
    alone rather than never."""
    return used == 0 or used + cost <= limit


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
    With a byte bound only: ``costs`` (consumer -> bytes of each buffered entry,
    in step with ``buffers``), ``nbytes`` (bytes buffered per consumer),
    ``held_cost`` (bytes of each held item), ``item_bytes`` (bytes of one item as
    last measured, None before the first), ``peak_bytes`` (largest ``nbytes`` seen).
    """

    def __init__(self, producer: str, consumers: Iterable[str], capacity: int, *,
                 weigh: Callable[[Any], int] | None = None, max_bytes: int | None = None,
                 measure: Callable[[Any], int] = nbytes) -> None:
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
        # ``measure(entry)`` is the entry's bytes (all its items, when weighted).
        self.max_bytes = max_bytes
        self.measure = measure
        self.costs: dict[str, deque] = {c: deque() for c in self.buffers}
        self.nbytes: dict[str, int] = {c: 0 for c in self.buffers}
        self.held_cost: dict[str, int] = {}
        self.item_bytes: int | None = None
        self.peak_bytes = 0

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
            if self.max_bytes is not None:
                self._taken(consumer)
            self.reading.add(consumer)
            return ITEM, entry
        if consumer in self.held:
            self.version += 1
            self.reading.add(consumer)
            self.held_cost.pop(consumer, None)
            return ITEM, self.held.pop(consumer)
        if self.error is not None:
            return ERROR, self.error
        if self.done:
            return END, None
        if self.pulling:
            return WAIT, f"'{self.producer}' is producing the next item"
        full = [c for c in self._live() if self._full(c)]
        if full and not self._may_hold(full):
            return WAIT, self._full_reason(full[0])
        self.pulling = True
        return PULL, None

    def _full(self, c: str) -> bool:
        """May the producer not emit now because of branch ``c``?"""
        if self.size(c) + (c in self.held) >= self.capacity:
            return True
        if self.max_bytes is None:
            return False
        return c in self.held or not fits(self.max_bytes, self.nbytes[c],
                                          self.item_bytes or 0)

    def _full_reason(self, c: str) -> str:
        if self.size(c) + (c in self.held) >= self.capacity:
            return (f"handoff {self.producer}->{c} full "
                    f"({self.capacity}/{self.capacity} in flight)")
        return (f"handoff {self.producer}->{c} full ({self.nbytes[c]} of "
                f"max_in_flight_bytes={self.max_bytes} bytes in flight)")

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
        if self.max_bytes is not None:
            self._pulled_bounded(item)
        elif self.weigh is None:
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

    def _pulled_bounded(self, item: Any) -> None:
        """``pulled`` under a byte bound: measure once, then buffer or hold per branch."""
        cost = self.measure(item)
        weight = 1 if self.weigh is None else self.weigh(item)
        self.item_bytes = cost // max(1, weight)
        for c in self._live():
            if self.weigh is not None:  # the producer checked ``room()`` first
                self._put(c, item, cost)
                continue
            if c in self.held:  # room came back: the held item goes first
                self._put(c, self.held.pop(c), self.held_cost.pop(c))
            if len(self.buffers[c]) >= self.capacity \
                    or not fits(self.max_bytes, self.nbytes[c], cost):  # type: ignore[arg-type]
                self.held[c], self.held_cost[c] = item, cost
                continue
            self._put(c, item, cost)

    def _put(self, c: str, entry: Any, cost: int) -> None:
        self.buffers[c].append(entry)
        self.costs[c].append(cost)
        self.nbytes[c] += cost
        if self.weigh is not None:
            self.sizes[c] += self.weigh(entry)
        self.peak = max(self.peak, self.size(c))
        self.peak_bytes = max(self.peak_bytes, self.nbytes[c])

    def _taken(self, c: str) -> None:
        """``c`` took its oldest entry: its bytes leave, and a held item that now fits
        joins the buffer (so the producer need not wait for the buffer to empty)."""
        self.nbytes[c] -= self.costs[c].popleft()
        if c in self.held and len(self.buffers[c]) < self.capacity \
                and fits(self.max_bytes, self.nbytes[c], self.held_cost[c]):  # type: ignore[arg-type]
            self._put(c, self.held.pop(c), self.held_cost.pop(c))

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
        if self.max_bytes is not None:
            cost = self.measure(entry)
            self.costs[consumer].appendleft(cost)
            self.nbytes[consumer] += cost
        self.version += 1

    def close(self, consumer: str) -> None:
        """The consumer left; its buffer is dropped and no longer holds others back."""
        self.closed.add(consumer)
        self._drop(consumer)
        self.version += 1

    def _drop(self, c: str) -> None:
        self.buffers[c].clear()
        self.costs[c].clear()
        self.sizes[c] = self.nbytes[c] = 0
        self.held.pop(c, None)
        self.held_cost.pop(c, None)

    def abort(self, exc: BaseException) -> None:
        """The run is ending: waiters wake and raise ``exc``; buffers are dropped."""
        for c in self.buffers:
            self._drop(c)
        self.failed(exc)

    def in_flight(self, consumer: str) -> int:
        return self.size(consumer)

    def size(self, consumer: str) -> int:
        """Items buffered for ``consumer`` (entries, unless ``weigh`` is set)."""
        return len(self.buffers[consumer]) if self.weigh is None else self.sizes[consumer]

    def room(self) -> int:
        """How many more items the producer may emit now without breaking the bound."""
        live = self._live()
        room = self.capacity - max((self.size(c) for c in live), default=0)
        if self.max_bytes is not None and live:
            room = min(room, self._byte_room(max(self.nbytes[c] for c in live)))
        return max(0, room)

    def _byte_room(self, used: int) -> int:
        """Items of the last measured size that fit beside ``used`` bytes; one into an
        empty buffer whatever its size; one at a time until a size was measured."""
        per = self.item_bytes
        if per is None:
            return 0 if used else 1
        if per == 0:
            return self.capacity
        room = (self.max_bytes - used) // per  # type: ignore[operator]
        return max(room, 1) if used == 0 else room

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None or not self._live()
