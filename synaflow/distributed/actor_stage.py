"""``ActorStage``: an ALL step that runs in a ``StepWorker`` actor.

A generator step is pulled in batches (``next_batch(k)``, ``k`` being what its
output has room for, including what a single consumer asked for); an ALL step that
reads streams gets each stream parameter fed by a ``Feeder``. Events are reported
where ``LocalStep`` reports them: STARTED before a value call (or at a generator's
first item), COMPLETED/FAILED when the call or the stream ends.

The actor lives on the driver's node, so the generator's state and its batches
survive the loss of any other node; if its process dies, the generator is started
again on a new actor and the items already delivered are replayed and dropped.
"""
from __future__ import annotations

from typing import Any

from ..engine.effects import perform
from .stages import Pending, StreamStage
from .streams import StreamIn, full_handoff
from .calls import PullOutcome, pack

MAX_PULL = 4096
MAX_RESTARTS = 3
PULL_BYTES = 8 << 20  # bytes a generator yields per pull (its hand-off still bounds items)
FEED_WINDOW = 65536  # items per push to an ALL reader (FEED_BYTES bounds its bytes)
FEED_BYTES = 4 << 20
REPLAY_BYTES = 256 << 20  # input a stream reader keeps to replay after losing its actor


def _size(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):g} MiB" if nbytes >= 1 << 20 else f"{nbytes} bytes"


class Feeder:
    """Pushes one stream parameter's slices into the stage's actor, one push at a
    time; a push returns when the function has started on its slices. While it is
    out, the window counts its items, so the function holds at most two windows
    (the one it reads and the next), and the intake fills meanwhile.

    Everything pushed is also kept (``log``), so that a reader whose actor dies can be
    called again on a new actor with its whole input: up to a quarter of the stream's byte
    bound (``max_in_flight_bytes``) when it has one, else up to ``REPLAY_BYTES``. The
    log holds refs, which keep their objects in the store, so a larger one would break
    the bound; past it the log is dropped and such a loss ends the run, naming the step.
    On a byte-bounded stream the two push windows together stay within half the bound."""

    def __init__(self, stage: "ActorStage", param: str, reader: StreamIn) -> None:
        self.stage = stage
        self.param = param
        self.reader = reader
        self.pushed = 0
        self.ended = False
        self.log: list | None = []
        self.logged_bytes = 0
        # The replay log holds refs, so it keeps their objects in the store: a stream
        # with a byte bound keeps a quarter of it for replay, so hand-off (the bound),
        # push windows (half of it) and log stay within 2 x max_in_flight items; past
        # it, losing the reader's actor ends the run, naming the step. Others keep up
        # to REPLAY_BYTES.
        bound = reader.out.state.max_bytes
        self.replay_bytes = REPLAY_BYTES if bound is None else min(bound // 4, REPLAY_BYTES)
        # On a byte-bounded edge the reader's two windows (the one it reads, the next)
        # together stay within half the edge's own bound, in items and in bytes: with
        # the hand-off (the bound) and the replay log (a quarter), the store then holds
        # at most 2 x (max_in_flight + 1) items of the stream. A byte bound is asked for
        # to bound memory, so this trades some throughput for it (issue 23, item 4).
        self.bound = None if bound is None else (
            max(1, reader.out.state.capacity // 4), max(1, bound // 4))
        fixed = stage.options.get("batch_size")  # items per push, for an ALL step
        self.size = FEED_WINDOW if fixed in (None, "auto") else int(fixed)

    def pump(self) -> bool:
        reader, stage = self.reader, self.stage
        if self.ended:
            return False
        item_bytes = max(1, getattr(reader.out, "item_bytes", 0))
        window = max(1, min(self.size, FEED_BYTES // item_bytes))
        if self.bound is not None:
            items, nbytes = self.bound
            window = max(1, min(window, items, nbytes // item_bytes))
        reader.window = max(0, window - self.pushed)
        progressed = reader.fill()
        if self.pushed:
            return progressed
        if reader.count:
            self.pushed = reader.count
            slices = reader.take(reader.count)
            self._keep(slices, self.pushed * max(item_bytes, 64))
            self._push(slices)
            reader.window = max(0, window - self.pushed)
            return True
        if reader.done:
            stage.t.call(stage.actor, "end", stage.slot, self.param)
            self.ended = True
            return True
        return progressed

    def _push(self, slices: list) -> None:
        stage = self.stage
        bounds, refs = pack([slices])
        ref = stage.t.call(stage.actor, "push", stage.slot, self.param, bounds, *refs,
                           name=f"{stage.label}.push")
        stage.expect(ref, self._acked, epoch=stage.epoch)

    def _keep(self, slices: list, nbytes: int) -> None:
        if self.log is None:
            return
        self.logged_bytes += nbytes
        if self.logged_bytes > self.replay_bytes:
            self.log = None  # too big to keep: losing the actor now ends the run
            return
        self.log.extend(slices)

    def replay(self) -> None:
        """Push everything pushed so far again, to a new actor, in one push; the end
        of the stream follows once it is acknowledged."""
        self.ended = False
        self.pushed = sum(stop - start for _, start, stop in self.log or ())
        if self.pushed:
            self._push(list(self.log or ()))

    def _acked(self, _: Any, __: Any) -> None:
        self.pushed = 0


class ActorStage(StreamStage):
    """An ALL step in a ``StepWorker``: a generator pulled in batches, or a call that
    reads streams; either way its stream parameters are fed by ``Feeder``s."""

    def start(self) -> None:
        static = {p: v for p, v in self.plan.static.items() if not isinstance(v, StreamIn)}
        streams = {p: v for p, v in self.plan.static.items() if isinstance(v, StreamIn)}
        box = self.spec(inline=True, static=static, resources=self.plan.resources)
        self.actor, self.pool = self.new_actor(0, near=True)
        self.feeders = [Feeder(self, p, r) for p, r in streams.items()]
        self.count, self.pulling, self.started, self.ended = 0, False, False, False
        self.epoch, self.restarts = 0, 0
        # A stream step never holds its input back: its function may read the input
        # when called, before it returns its iterator (and before ``start`` replies).
        self.opened = self.node.is_stream or not self.plan.resources
        if self.node.is_stream:
            ref = self.t.call(self.actor, "start", self.slot, box, list(streams), 0,
                              name=f"{self.label}.start")
            self.expect(ref, self._started, epoch=0)
            return
        if self.plan.resources:  # made first, then STARTED, as in-process
            ref = self.t.call(self.actor, "open_call", self.slot, box,
                              name=f"{self.label}.open")
            self.expect(ref, self._opened, epoch=0)
            return
        self._opened(None, 0)

    def _opened(self, error: BaseException | None, _: Any) -> None:
        if error is not None:
            self.core.set_fatal(error, None)
            self.finish()
            return
        self.opened = True
        self.call_started()
        self._call()

    def _call(self) -> None:
        """The call of an ALL step that reads streams (again, after losing its actor)."""
        meta_ref, data_ref = self.t.call(self.actor, "call", self.slot, self.box,
                                         [f.param for f in self.feeders], num_returns=2,
                                         name=self.label)
        self.expect(meta_ref, self._called, data_ref, epoch=self.epoch)

    def _called(self, meta: Any, data_ref: Any) -> None:
        self.value_result(meta, data_ref)

    def _started(self, meta: Any, _: Any) -> None:
        if self.restarts and meta.setup_error is None and meta.error is None:
            self.started = True  # resumed after a restart; the sink is already open
            return
        if meta.setup_error is not None:
            self.core.set_fatal(meta.setup_error, None)
            self.finish()
        elif meta.error is not None:
            perform(self.tracker.call_failed(meta.error)[0])
            self.finish()
        else:
            self.started = True
            self.open_sink()
            self.materialization_started()

    def pump(self) -> bool:
        if self.done:
            return False
        progressed = False
        for feeder in self.feeders:
            progressed = feeder.pump() or progressed
        if not self.started or self.pulling or self.ended:
            return progressed
        if self.count == 0 and not self.run.readers_ready(self.name):
            return progressed  # no reader ready yet: in-process nothing would pull
        if self.sink.closed:
            self.finish()
            return True
        k = min(self.sink.room(), MAX_PULL,
                max(1, PULL_BYTES // self.sink.item_bytes) if self.sink.item_bytes else MAX_PULL)
        if k <= 0:
            return progressed
        self.sink.reserve(k)
        meta_ref, data_ref = self.t.call(self.actor, "next_batch", self.slot, k,
                                         num_returns=2, name=f"{self.label}.next")
        self.pulling = True
        self.expect(meta_ref, self._batch, data_ref, epoch=self.epoch)
        return True

    def failed(self, exc: BaseException, pending: Pending | None) -> None:
        """A generator whose actor died is started again on a new actor and replays
        the items already delivered (generators are assumed deterministic, as Ray
        assumes for its own generator retries). A step reading streams is called
        again on a new actor with its input so far (kept by its feeders, up to
        ``REPLAY_BYTES``); a generator that reads streams cannot be replayed, so its
        loss ends the run."""
        # (a call to an actor already replaced is stale: the run dropped its failure)
        lost = pending is not None and pending.epoch is not None and self.t.actor_lost(exc) and self.restarts < MAX_RESTARTS
        if lost and self.feeders and not self.node.is_stream \
                and all(f.log is not None for f in self.feeders):
            self._recall()
            return
        if not lost or self.feeders:
            if lost and self.feeders:
                budget = min(f.replay_bytes for f in self.feeders)
                why = ("it is a generator that reads streams" if self.node.is_stream else
                       f"its input so far is over the {_size(budget)} it may keep for "
                       "replay (a quarter of its stream's max_in_flight_bytes, at most "
                       f"{_size(REPLAY_BYTES)})")
                exc.add_note(f"Pipeline '{self.core.dag.name}', step '{self.name}': its actor "
                             f"was lost mid-stream and it cannot be called again, as {why}")
            super().failed(exc, pending)
            return
        self.restarts += 1
        self.epoch += 1
        self.t.kill(self.actor)
        self.actor, self.pool = self.new_actor(self.restarts, near=True)
        self.pulling = self.started = False
        self.sink.unreserve()
        ref = self.t.call(self.actor, "start", self.slot, self.box, [], self.count,
                          name=f"{self.label}.start")
        self.expect(ref, self._started, epoch=self.epoch)

    def _recall(self) -> None:
        """Call a stream reader again on a new actor, replaying its input so far."""
        self.restarts += 1
        self.epoch += 1
        self.t.kill(self.actor)
        self.actor, self.pool = self.new_actor(self.restarts, near=True)
        self._call()
        for feeder in self.feeders:
            feeder.replay()

    def _batch(self, meta: PullOutcome, data_ref: Any) -> None:
        self.pulling = False
        n, ended, error = meta.n, meta.done, meta.error
        if n:
            if self.count == 0:
                perform(self.tracker.start())
            self.count += n
            self.sink.item_bytes = meta.nbytes // n
            self.sink.emit((data_ref, 0, n))
        self.sink.unreserve()
        self.ended = ended
        if error is not None:
            self.stream_over(*self.tracker.stream_failed(error, self.count))
        elif ended:
            self.stream_over(self.tracker.stream_done(self.count), None)

    def upstream_failed(self, exc: BaseException) -> None:
        if self.node.is_stream:
            if self.started:
                self.stream_over(self.tracker.stream_failed(exc, self.count)[0], exc)
        else:
            perform(self.tracker.call_failed(exc)[0])
        self.finish()

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.t.release(self.actor, self.slot, self.pool)

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self.t.kill(self.actor)

    def blocked(self) -> str:
        if self.started and self.sink.room() <= 0:
            return f"step '{self.name}' ({full_handoff(self.node)})"
        return f"step '{self.name}' waits for its input streams"
