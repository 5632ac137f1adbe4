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
from .stages import StreamStage
from .streams import StreamIn, full_handoff
from .worker import pack

MAX_PULL = 4096
MAX_RESTARTS = 3
PULL_BYTES = 8 << 20  # bytes a generator yields per pull (its hand-off still bounds items)
FEED_WINDOW = 65536  # items per push to an ALL reader (FEED_BYTES bounds its bytes)
FEED_BYTES = 4 << 20


class Feeder:
    """Pushes one stream parameter's slices into the stage's actor, one push at a
    time; a push returns when the function has started on its slices. While it is
    out, the window counts its items, so the function holds at most two windows
    (the one it reads and the next), and the intake fills meanwhile."""

    def __init__(self, stage: "ActorStage", param: str, reader: StreamIn) -> None:
        self.stage = stage
        self.param = param
        self.reader = reader
        self.pushed = 0
        self.ended = False
        fixed = stage.options.get("batch_size")  # items per push, for an ALL step
        self.size = FEED_WINDOW if fixed in (None, "auto") else int(fixed)

    def pump(self) -> bool:
        reader, stage = self.reader, self.stage
        if self.ended:
            return False
        item_bytes = max(1, getattr(reader.out, "item_bytes", 0))
        window = max(1, min(self.size, FEED_BYTES // item_bytes))
        reader.window = max(0, window - self.pushed)
        progressed = reader.fill()
        if self.pushed:
            return progressed
        if reader.count:
            self.pushed = reader.count
            bounds, refs = pack([reader.take(reader.count)])
            ref = stage.t.call(stage.actor, "push", stage.slot, self.param, bounds, *refs,
                               name=f"{stage.label}.push")
            reader.window = max(0, window - self.pushed)
            stage.expect(ref, self._acked)
            return True
        if reader.done:
            stage.t.call(stage.actor, "end", stage.slot, self.param)
            self.ended = True
            return True
        return progressed

    def _acked(self, _: Any, __: Any = None) -> None:
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
        if self.node.is_stream:
            ref = self.t.call(self.actor, "start", self.slot, box, list(streams), 0,
                              name=f"{self.label}.start")
            self.expect(ref, self._started, 0)
            return
        if not self.node.fn_kind.endswith("generator"):  # as LocalStep, AsyncLocalStep
            perform(self.tracker.start())
        meta_ref, data_ref = self.t.call(self.actor, "call", self.slot, box, list(streams),
                                         num_returns=2, name=self.label)
        self.expect(meta_ref, self.value_result, data_ref)

    def _started(self, meta: Any, epoch: int) -> None:
        if epoch != self.epoch:
            return
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
        self.expect(meta_ref, self._batch, (data_ref, self.epoch))
        return True

    def failed(self, exc: BaseException, data: Any) -> None:
        """A generator whose actor died is started again on a new actor and replays
        the items already delivered (generators are assumed deterministic, as Ray
        assumes for its own generator retries); a step reading streams cannot
        replay its input, so its loss ends the run."""
        # The generator's own calls carry their epoch: start (int), next_batch (tuple).
        epoch = data[1] if isinstance(data, tuple) else data if isinstance(data, int) else None
        if epoch is not None and epoch != self.epoch:
            return  # a call to an actor already replaced
        if epoch is None or self.feeders or not self.t.actor_lost(exc) \
                or self.restarts >= MAX_RESTARTS:
            super().failed(exc, data)
            return
        self.restarts += 1
        self.epoch += 1
        self.t.kill(self.actor)
        self.actor, self.pool = self.new_actor(self.restarts, near=True)
        self.pulling = self.started = False
        self.sink.unreserve()
        ref = self.t.call(self.actor, "start", self.slot, self.box, [], self.count,
                          name=f"{self.label}.start")
        self.expect(ref, self._started, self.epoch)

    def _batch(self, meta: tuple, data: tuple) -> None:
        data_ref, epoch = data
        if epoch != self.epoch:
            return
        self.pulling = False
        n, ended, error, _elapsed, nbytes = meta
        if n:
            if self.count == 0:
                perform(self.tracker.start())
            self.count += n
            self.sink.item_bytes = nbytes // n
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
