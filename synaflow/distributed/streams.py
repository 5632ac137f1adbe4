"""Streams between Ray stages, seen from the driver: refs and counts, never items.

An entry is a *slice* ``(ref, start, stop)`` of a batch stored once in the object
store; every consumer of a fan-out gets the same slices. ``ChannelOut`` wraps the
engine's ``FanoutState`` (weighted by slice length) so that the items a producer
has emitted and its consumer has not taken never exceed ``max_in_flight``. Inside
the channel a slice also carries the bytes of one of its items, as the worker that
made the batch measured them (``(ref, start, stop, item_bytes)``), so that a byte
bound (``max_in_flight_bytes``) counts object-store bytes; consumers take plain
``(ref, start, stop)`` slices.

A consumer *takes* items into its own window (``StreamIn.window``): rows about to
be batched, or a feed it pushes to an actor. With a single consumer the producer
may also produce straight into that window (pull: the consumer's demand), which is
how a ``max_in_flight=1`` edge still moves items in batches.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

from ..engine.channels import END, ERROR, ITEM, FanoutState

UNBOUNDED = 1 << 40


def slice_len(entry: tuple) -> int:
    return entry[2] - entry[1]


def slice_bytes(entry: tuple) -> int:
    """Bytes of a channel entry ``(ref, start, stop, item_bytes)``."""
    return (entry[2] - entry[1]) * entry[3]


class StreamIn:
    """One consumer's end of a channel: what ``RunCore`` publishes for it.

    Mutable: ``buffer`` (slices taken, not yet used), ``count`` (items in it),
    ``done`` (the producer ended or the run aborted), ``window`` (items the
    consumer is willing to hold), ``taken`` (items taken so far).
    """

    def __init__(self, out: "ChannelOut", consumer: str) -> None:
        self.out = out
        self.consumer = consumer
        self.buffer: deque = deque()
        self.count = 0
        self.done = False
        self.window = 1
        self.taken = 0
        self.reserved = 0

    def want(self) -> int:
        """Items this consumer would take now that nobody has been asked for yet."""
        return 0 if self.done else max(0, self.window - self.count - self.reserved)

    def accept(self, entry: tuple) -> None:
        n = slice_len(entry)
        self.buffer.append(entry)
        self.count += n
        self.taken += n

    def fill(self) -> bool:
        """Take entries from the channel while the window has room."""
        progressed = False
        state = self.out.state
        while not self.done and self.count < self.window:
            kind, value = state.poll(self.consumer)
            if kind == ITEM:
                ref, start, stop, item_bytes = value
                room = self.window - self.count
                if stop - start > room:  # take what fits, the rest stays in the channel
                    state.give_back(self.consumer, (ref, start + room, stop, item_bytes))
                    stop = start + room
                self.accept((ref, start, stop))
                progressed = True
            elif kind in (END, ERROR):
                self.done = progressed = True
            else:
                break
        return progressed

    def take(self, n: int) -> list[tuple]:
        """The next ``n`` buffered items, as slices (the last one split if needed)."""
        out: list[tuple] = []
        while n > 0 and self.buffer:
            ref, start, stop = self.buffer[0]
            k = stop - start
            if k <= n:
                out.append(self.buffer.popleft())
                n -= k
                self.count -= k
            else:
                out.append((ref, start, start + n))
                self.buffer[0] = (ref, start + n, stop)
                self.count -= n
                n = 0
        return out

    def close(self) -> None:
        """The consumer reads no more: it stops holding back the producer."""
        self.out.state.close(self.consumer)
        self.buffer.clear()
        self.count, self.done = 0, True

    @property
    def exhausted(self) -> bool:
        return self.done and self.count == 0


class StaticIn:
    """An EACH source that is already complete (a param or a materialized value):
    ``size`` items of the indexable value behind ``remote``."""

    def __init__(self, remote: Any, size: int) -> None:
        self.remote = remote
        self.pos = 0
        self.count = size
        self.done = True
        self.window = 0

    def fill(self) -> bool:
        return False

    def take(self, n: int) -> list[tuple]:
        n = min(n, self.count)
        if n <= 0:
            return []
        entry = (self.remote, self.pos, self.pos + n)
        self.pos += n
        self.count -= n
        return [entry]

    @property
    def exhausted(self) -> bool:
        return self.count == 0


class ChannelOut:
    """A stream producer's output to its consumers (one ``StreamIn`` each)."""

    def __init__(self, producer: str, consumers: list[str], capacity: int,
                 max_bytes: int | None = None) -> None:
        self.state = FanoutState(producer, consumers, capacity, weigh=slice_len,
                                 max_bytes=max_bytes, measure=slice_bytes)
        self.readers = {c: StreamIn(self, c) for c in consumers}
        self.item_bytes = 0
        self.emitted = 0
        self.reserved = 0

    def publish(self, core: Any, name: str) -> None:
        if len(self.readers) == 1:
            core.publish(name, next(iter(self.readers.values())))
        else:
            core.publish_branches(name, dict(self.readers))

    def _direct(self) -> StreamIn | None:
        """The single live consumer whose window the producer may fill directly."""
        if len(self.readers) != 1:
            return None
        reader = next(iter(self.readers.values()))
        if reader.consumer in self.state.closed or self.state.buffers[reader.consumer]:
            return None
        return reader

    def room(self) -> int:
        """Items the producer may emit now: the hand-off's room plus, with a single
        consumer, what that consumer asks for (produced for it, taken on arrival)."""
        if self.closed:
            return 0
        for reader in self.readers.values():
            reader.fill()
        direct = self._direct()
        return self.state.room() + (direct.want() if direct is not None else 0)

    def reserve(self, k: int) -> None:
        """The producer asked for ``k`` items and will deliver them later: the part
        the consumer asked for is set aside for it, so that it goes to the consumer
        on arrival whatever the consumer did meanwhile."""
        direct = self._direct()
        if direct is not None:
            share = min(k, direct.want())
            direct.reserved += share
            self.reserved += share

    def unreserve(self) -> None:
        """The producer delivered less than it was asked for (its stream ended)."""
        for reader in self.readers.values():
            reader.reserved = 0
        self.reserved = 0

    def emit(self, entry: tuple) -> None:
        ref, start, stop = entry
        self.emitted += stop - start
        reader = next(iter(self.readers.values()))
        share = self.reserved if self.reserved else (
            reader.want() if self._direct() is not None else 0)
        n = min(share, stop - start)
        if n > 0:
            if self.reserved:
                self.reserved -= n
                reader.reserved -= n
            if reader.consumer not in self.state.closed:
                reader.accept((ref, start, start + n))
            start += n
        if stop > start:
            self.state.pulled((ref, start, stop, self.item_bytes))

    def end(self) -> None:
        self.state.exhausted()

    def fail(self, exc: BaseException) -> None:
        self.state.abort(exc)

    @property
    def closed(self) -> bool:
        """Every consumer left: nobody will read what the producer makes next."""
        return len(self.state.closed) == len(self.readers)


class CollectOut:
    """Keeps every slice of a stream that is materialized or drained at its end;
    ``on_end`` gets them (unbounded: these producers have no lazy consumer)."""

    def __init__(self, on_end: Callable[[list], None]) -> None:
        self.slices: list[tuple] = []
        self.on_end = on_end
        self.item_bytes = 0
        self.emitted = 0
        self.closed = False

    def room(self) -> int:
        return UNBOUNDED

    def reserve(self, k: int) -> None:
        """Nothing to set aside: everything is kept."""

    def unreserve(self) -> None:
        """Nothing was set aside."""

    def emit(self, entry: tuple) -> None:
        self.emitted += slice_len(entry)
        self.slices.append(entry)

    def end(self) -> None:
        self.on_end(self.slices)

    def fail(self, exc: BaseException) -> None:
        self.slices = []


class Intake:
    """The rows of an EACH step: a zip-longest over its sources, kept as slices."""

    def __init__(self, sources: list[Any]) -> None:
        self.sources = sources

    def fill(self, window: int) -> bool:
        progressed = False
        for s in self.sources:
            if isinstance(s, StreamIn):
                s.window = window
                progressed = s.fill() or progressed
        return progressed

    def available(self) -> int:
        """Rows whose items have all arrived (an ended source pads with ``None``)."""
        live = [s.count for s in self.sources if not s.done]
        if live:
            return min(live)
        return max((s.count for s in self.sources), default=0)

    @property
    def exhausted(self) -> bool:
        return all(s.exhausted for s in self.sources)

    def take(self, n: int) -> list[list[tuple]]:
        return [s.take(n) for s in self.sources]

    def close(self) -> None:
        for s in self.sources:
            if isinstance(s, StreamIn):
                s.close()

    def item_bytes(self) -> int:
        return sum(getattr(s.out, "item_bytes", 0) for s in self.sources
                   if isinstance(s, StreamIn))


def full_handoff(node: Any) -> str:
    """How a producer's full hand-off reads in a stall message (both of its bounds)."""
    limit = f"{node.max_in_flight} in flight"
    if getattr(node, "max_in_flight_bytes", None):
        limit += f" or {node.max_in_flight_bytes} bytes (max_in_flight_bytes)"
    return f"handoff {node.name}-> full, {limit}"
