"""``EachStage``: an EACH step as a pool of micro-batched tasks (or actor replicas).

Rows come from an ``Intake`` (zip-longest over the step's sources, as slices).
Batches run in parallel, but their results are released in submission order, so
every consumer sees items in source order and fan-in zips stay aligned. Results
are released only while the output has room; a full output stops submissions
once the window of batches in flight is full (backpressure).

Row outcomes come back as data and are replayed in row order on the step's
``StepTracker`` (``success`` counts, ``row_failed``, ``rows_done``), exactly as the
synchronous ``each_rows`` loop reports them.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from ..core.exceptions import RunnerMismatchError
from ..core.types import OnError
from ..engine.effects import perform
from .batching import BatchSizer
from .refs import Remote
from .stages import StreamStage
from .streams import Intake, StaticIn, StreamIn
from .worker import each_batch, listify, pack


MAX_RESUBMITS = 3


class _Batch:
    """One batch of rows. ``args`` (its inputs) are kept until it is acknowledged
    (its outcome arrived), so it can be sent again if its worker is lost."""

    __slots__ = ("rows", "args", "meta", "refs", "released", "replica", "applied", "tries")

    def __init__(self, rows: int, args: tuple) -> None:
        self.rows = rows
        self.args = args
        self.meta: tuple | None = None
        self.refs: tuple = ()
        self.released = 0
        self.replica: int | None = None
        self.applied = False
        self.tries = 0


class EachStage(StreamStage):
    """Mutable: ``inflight`` (batches in submission order), ``pending_sources`` (sources
    still being turned into lists), ``sizer`` (adaptive batch size)."""

    def start(self) -> None:
        node, plan = self.node, self.plan
        streams = [p for p, v in plan.static.items() if isinstance(v, StreamIn)]
        if streams:
            raise RunnerMismatchError(
                f"Pipeline '{self.core.dag.name}', step '{self.name}': parameter "
                f"'{streams[0]}' passes a whole stream to every row of an EACH step, which "
                "the Ray runner cannot share between parallel batches. Annotate it "
                "'list[...]' so it is materialized once")
        self.open_sink()
        self.materialization_started()
        self.spec(static=dict(plan.static), source_params=plan.source_params,
                  resources=plan.resources,
                  stop_on_error=node.on_error is OnError.STOP)
        fixed = self.options.get("batch_size")
        self.sizer = BatchSizer(None if fixed in (None, "auto") else int(fixed))
        self.inflight: deque[_Batch] = deque()
        self.sources: list[Any] = [None] * len(plan.sources)
        self.pending_sources = 0
        for i, value in enumerate(plan.sources):
            self._source(i, value)
        self.replicas = self.run.opts.replicas(self.name, stateful=bool(plan.resources))
        self.actors: list[Any] = []
        if plan.resources:
            for i in range(self.replicas):
                self.actors.append(self.new_actor(i))
        self.outstanding = [0] * max(1, len(self.actors))
        self.sent = [0] * max(1, len(self.actors))
        self.submit = None if self.actors else \
            self.t.task(each_batch, self.task_options(), self.name)
        self.rows_over = False

    def _source(self, i: int, value: Any) -> None:
        if isinstance(value, StreamIn):
            self.sources[i] = value
        elif isinstance(value, Remote):
            info = self.run.value_info.get(id(value.ref))
            shape = value.shape
            plain_view = not value.path and (shape is None or (
                shape[0] in ("items", "as_is") and shape[1].get("reshape") is None))
            if info is not None and info.indexable and plain_view:
                self.sources[i] = StaticIn(value, info.size)
                return
            submit = self.t.task(listify, self.task_options(), self.name)
            meta_ref, data_ref = submit(value)
            self.pending_sources += 1
            self.expect(meta_ref, self._listed, (i, data_ref))
        else:
            items = value if isinstance(value, (list, tuple, range, str)) else list(value)
            ref = self.t.put(items, f"param of step:{self.name}")
            self.sources[i] = StaticIn(Remote(ref), len(items))

    def _listed(self, meta: Any, data: tuple) -> None:
        i, ref = data
        self.sources[i] = StaticIn(Remote(ref), meta.size)
        self.pending_sources -= 1

    # -- the loop ---------------------------------------------------------------------
    def pump(self) -> bool:
        if self.done or self.pending_sources:
            return False
        if not hasattr(self, "intake"):
            self.intake = Intake(self.sources)
        if self.sink.closed:
            self._stop()
            return True
        progressed = self._release()
        if self.done:
            return True
        intake, sizer = self.intake, self.sizer
        while True:
            window = sizer.window(self.replicas)
            size = sizer.size(replicas=self.replicas)
            held = sum(b.rows for b in self.inflight)
            progressed = intake.fill(max(0, size * window - held)) or progressed
            sizer.observe_bytes(1, intake.item_bytes())
            if len(self.inflight) >= window:
                break
            available = intake.available()
            if available == 0:
                break
            all_in = all(s.done for s in intake.sources)
            size = sizer.size(replicas=self.replicas,
                              remaining=available + held if all_in else None)
            if available < size and not all_in and self.inflight:
                break  # a fuller batch is on its way; keep the workers busy meanwhile
            self._submit(min(size, available))
            progressed = True
        if intake.exhausted and not self.inflight and not self.rows_over:
            self.rows_over = True
            self.stream_over(*self.tracker.rows_done())
            progressed = True
        return progressed

    def _submit(self, rows: int) -> None:
        if not self.tracker.started:
            perform(self.tracker.start())
        batch = _Batch(rows, pack(self.intake.take(rows)))
        self.inflight.append(batch)
        self._send(batch)

    def _send(self, batch: _Batch, replica: int | None = None, *, final: bool = False
              ) -> None:
        bounds, refs = batch.args
        box = self.final_box if final else self.box
        if self.actors:
            if replica is None:
                replica = min(range(len(self.actors)), key=self.outstanding.__getitem__)
            self.outstanding[replica] += 1
            seq = self.sent[replica]
            self.sent[replica] += 1
            meta_ref, data_ref = self.t.call(
                self.actors[replica][0], "each", self.slot, box, seq,
                int(self.options.get("max_concurrency", 1)), bounds, *refs, num_returns=2,
                name=self.label)
        else:
            meta_ref, data_ref = self.submit(box, bounds, *refs)
        batch.replica = replica
        batch.refs = (meta_ref, data_ref)
        batch.tries += 1
        self.expect(meta_ref, self._done, (batch, batch.tries))

    def _done(self, meta: tuple, data: tuple) -> None:
        batch, attempt = data
        if attempt != batch.tries:
            return  # an attempt that was already replaced
        batch.meta, batch.args = meta, None
        if batch.replica is not None:
            self.outstanding[batch.replica] -= 1

    def failed(self, exc: BaseException, data: Any) -> None:
        """A batch lost with its worker (process, replica or node) is sent again, as
        are the other unacknowledged batches of a lost replica (rows are
        idempotent: nothing of a batch is delivered before its outcome arrives)."""
        if not (isinstance(data, tuple) and isinstance(data[0], _Batch)):
            super().failed(exc, data)
            return
        batch, attempt = data
        if attempt != batch.tries:
            return
        if self.retries_exhausted(exc) is not None:  # once more, reporting row errors
            if batch.replica is not None:
                self.outstanding[batch.replica] -= 1
            self._send(batch, batch.replica, final=True)
            return
        if not self.t.system_failure(exc) or batch.tries > MAX_RESUBMITS:
            super().failed(exc, data)
            return
        if batch.replica is None:
            self._send(batch)
            return
        lost = batch.replica
        self.t.kill(self.actors[lost][0])
        self.actors[lost] = self.new_actor(lost + 100 * attempt)
        self.sent[lost] = self.outstanding[lost] = 0
        for b in self.inflight:
            if b.replica == lost and b.meta is None:
                self._send(b, lost)

    def _release(self) -> bool:
        """Apply finished batches in order and hand their results on while there is room."""
        progressed = False
        while self.inflight and self.inflight[0].meta is not None and not self.done:
            batch = self.inflight[0]
            if not batch.applied:
                batch.applied = True
                if not self._apply(batch):
                    return True
            ok, data_ref = batch.meta[0], batch.refs[1]
            while batch.released < ok:
                room = self.sink.room()
                if room <= 0:
                    return progressed
                k = min(room, ok - batch.released)
                self.sink.emit((data_ref, batch.released, batch.released + k))
                batch.released += k
                progressed = True
            self.inflight.popleft()
            progressed = True
        return progressed

    def _apply(self, batch: _Batch) -> bool:
        """Replay a batch's row outcomes on the tracker, in row order; False if the run
        must end (a fatal error, or STOP)."""
        ok, errors, elapsed, nbytes, setup_error = batch.meta
        if setup_error is not None:
            self.core.set_fatal(setup_error, None)
            self.finish()
            return False
        self.sizer.observe(ok + len(errors), elapsed)
        if ok:
            self.sink.item_bytes = nbytes // ok
        tracker, seen = self.tracker, 0
        for index, exc in errors:
            tracker.success += index - seen
            seen = index + 1
            effects, fatal = tracker.row_failed(exc)
            if fatal is not None:
                self.stream_over(effects, fatal)
                return False
            perform(effects)
        tracker.success += ok + len(errors) - seen
        return True

    def upstream_failed(self, exc: BaseException) -> None:
        self.stream_over([], exc)

    def _stop(self) -> None:
        """Every consumer left: stop reading, drop work in flight (no COMPLETED, as a
        lazy EACH stream that nobody pulls to the end never completes)."""
        self.intake.close()
        self.t.cancel([b.refs[0] for b in self.inflight if b.refs])
        self.inflight.clear()
        self.finish()

    def finish(self) -> None:
        if not self.done:
            self.done = True
            for actor, pooled in self.actors:
                self.t.release(actor, self.slot, pooled)

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self.t.cancel([b.refs[0] for b in self.inflight if b.refs])
            for actor, _ in self.actors:
                self.t.kill(actor)

    def blocked(self) -> str:
        if self.inflight and self.inflight[0].meta is not None:
            return (f"step '{self.name}' (handoff {self.name}-> full, "
                    f"{self.node.max_in_flight} in flight)")
        return f"step '{self.name}' waits for rows"

