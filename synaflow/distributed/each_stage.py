"""``EachStage``: an EACH step as a pool of micro-batched tasks (or actor replicas).

Rows come from an ``Intake`` (zip-longest over the step's sources, as slices).
Batches run in parallel, but their results are released in submission order, so
every consumer sees items in source order and fan-in zips stay aligned. Results
are released only while the output has room; a full output stops submissions
once the window of batches in flight is full (backpressure).

Row outcomes come back as data and are replayed in row order on the step's
``StepTracker`` (``success`` counts, ``row_failed``, ``rows_done``), exactly as the
synchronous ``each_rows`` loop reports them.

Adjacent EACH steps are *fused* (``generator -> a -> b``: each batch runs ``a`` and
then ``b`` on ``a``'s results in one task) when ``a``'s stream has ``b`` as its
only, lazy consumer, ``b`` reads nothing else that streams, and neither has Ray
options or resources. Each step keeps its own tracker, events and sink; only the
hop between them (a round trip through the driver per batch) disappears.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from ..core.exceptions import RunnerMismatchError
from ..core.types import OnError
from ..engine.effects import perform
from .batching import BatchSizer
from .objects import ItemNotSerialisable
from .refs import Remote
from .stages import Pending, StreamStage
from .streams import Intake, StaticIn, StreamIn, full_handoff
from .calls import BatchOutcome, pack
from .worker import each_batch, each_chain, listify


MAX_RESUBMITS = 3


class _Batch:
    """One batch of rows. ``args`` (its inputs) are kept until it is acknowledged
    (its outcome arrived), so it can be sent again if its worker is lost."""

    __slots__ = ("rows", "args", "meta", "refs", "released", "replica", "applied", "tries")

    def __init__(self, rows: int, args: tuple) -> None:
        self.rows = rows
        self.args = args
        # how the batch went: one BatchOutcome, or one per step of a fused chain
        self.meta: BatchOutcome | tuple[BatchOutcome, ...] | None = None
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
            self._open_replicas()
        # A replica with max_concurrency=N runs N batches at once: keep all N busy.
        self.lanes = self.replicas * (
            int(self.options.get("max_concurrency", 1)) if self.actors else 1)
        self.outstanding = [0] * max(1, len(self.actors))
        self.sent = [0] * max(1, len(self.actors))
        self.submit = None if self.actors else \
            self.t.task(each_batch, self.task_options(), self.name)
        self.rows_over = False
        self.tail: list[EachStage] = []  # fused consumers, in chain order
        self.head: EachStage | None = None  # the stage this one is fused into

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

    def _open_replicas(self) -> None:
        """Actor replicas, each asked to make its resources before any batch."""
        self.opened, self.opening = False, self.replicas
        for i in range(self.replicas):
            self.actors.append(self.new_actor(i))
            ref = self.t.call(self.actors[i][0], "open", self.slot, self.box,
                              name=f"{self.label}.open")
            self.expect(ref, self._opened, i)

    def _opened(self, error: BaseException | None, replica: int) -> None:
        """A replica made its resources (or could not: the run ends, as in-process)."""
        if error is not None:
            self.core.set_fatal(error, None)
            return
        self.opening -= 1
        self.opened = self.opening == 0

    def _listed(self, meta: Any, data: tuple) -> None:
        i, ref = data
        self.sources[i] = StaticIn(Remote(ref), meta.size)
        self.pending_sources -= 1

    # -- the loop ---------------------------------------------------------------------
    def pump(self) -> bool:
        if self.done or self.pending_sources or self.head is not None or not self.opened:
            return False
        if not hasattr(self, "intake"):
            self.intake = Intake(self.sources)
            self._fuse()
        if self.out.closed:
            self._stop()
            return True
        progressed = self._release()
        if self.done:
            return True
        intake, sizer = self.intake, self.sizer
        while True:
            window = sizer.window(self.lanes)
            size = sizer.size(replicas=self.lanes)
            held = sum(b.rows for b in self.inflight)
            progressed = intake.fill(max(0, size * window - held)) or progressed
            sizer.observe_bytes(1, intake.item_bytes())
            if len(self.inflight) >= window:
                break
            available = intake.available()
            if available == 0:
                break
            all_in = all(s.done for s in intake.sources)
            size = sizer.size(replicas=self.lanes,
                              remaining=available if all_in else None)
            if available < size and not all_in and self.inflight:
                break  # a fuller batch is on its way; keep the workers busy meanwhile
            if not self.tracker.started and not self.run.readers_ready(self.last.name):
                break  # no reader ready yet: in-process nothing would pull this step
            self._submit(min(size, available))
            progressed = True
        if intake.exhausted and not self.inflight and not self.rows_over:
            for stage in (self, *self.tail):
                if not stage.done:
                    stage.rows_over = True
                    stage.stream_over(*stage.tracker.rows_done())
            progressed = True
        return progressed

    # -- fusion -------------------------------------------------------------------------
    @property
    def last(self) -> "EachStage":
        """The stage whose stream this stage's batches deliver: itself, or the last
        one fused into it."""
        return self.tail[-1] if self.tail else self

    @property
    def out(self) -> Any:
        return self.last.sink

    def _fuse(self) -> None:
        """Take over the chain of EACH consumers that can run in this stage's tasks."""
        stage: EachStage = self
        while (nxt := stage._fusable_consumer()) is not None:
            self.tail.append(nxt)
            nxt.head = self
            stage = nxt
        if self.tail:
            self.run.fused.append((self.name, *(s.name for s in self.tail)))
            names = "+".join(s.name for s in (self, *self.tail))
            self.label = f"{self.core.dag.name}.{names}"
            self.submit = self.t.task(each_chain, {**self.task_options(), "name": self.label},
                                      names)

    def _fusable_consumer(self) -> "EachStage | None":
        consumers = self.node.consumers
        if self.actors or self.options or len(consumers) != 1 \
                or self.route not in ("direct", "bounded"):
            return None
        nxt = self.run.stages.get(consumers[0])
        if not isinstance(nxt, EachStage) or nxt.done or nxt.actors or nxt.options \
                or nxt.head is not None or hasattr(nxt, "intake") or nxt.pending_sources:
            return None
        sources = nxt.sources
        if len(sources) != 1 or not isinstance(sources[0], StreamIn) \
                or sources[0].out is not self.sink:
            return None
        return nxt

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
        elif self.tail:
            boxes = [box, *(s.final_box if final else s.box for s in self.tail)]
            meta_ref, data_ref = self.submit(boxes, bounds, *refs)
        else:
            meta_ref, data_ref = self.submit(box, bounds, *refs)
        batch.replica = replica
        batch.refs = (meta_ref, data_ref)
        batch.tries += 1
        self.expect(meta_ref, self._done, (batch, batch.tries))

    def _done(self, meta: Any, data: tuple) -> None:
        batch, attempt = data
        if attempt != batch.tries:
            return  # an attempt that was already replaced
        batch.meta, batch.args = meta, None
        if batch.replica is not None:
            self.outstanding[batch.replica] -= 1

    def failed(self, exc: BaseException, pending: Pending | None) -> None:
        """A batch lost with its worker (process, replica or node) is sent again, as
        are the other unacknowledged batches of a lost replica (rows are
        idempotent: nothing of a batch is delivered before its outcome arrives)."""
        if pending is None or pending.callback != self._done:
            super().failed(exc, pending)
            return
        batch, attempt = pending.data
        if attempt != batch.tries:
            return
        if self.retries_exhausted(exc) is not None:  # once more, reporting row errors
            if batch.replica is not None:
                self.outstanding[batch.replica] -= 1
            self._send(batch, batch.replica, final=True)
            return
        if not self.t.system_failure(exc) or batch.tries > MAX_RESUBMITS:
            super().failed(exc, pending)
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
        out = self.out
        while self.inflight and self.inflight[0].meta is not None and not self.done:
            batch = self.inflight[0]
            if not batch.applied:
                batch.applied = True
                if not self._apply(batch):
                    return True
            ok = (batch.meta[-1] if self.tail else batch.meta).ok
            data_ref = batch.refs[1]
            while batch.released < ok:
                room = out.room()
                if room <= 0:
                    return progressed
                k = min(room, ok - batch.released)
                out.emit((data_ref, batch.released, batch.released + k))
                batch.released += k
                progressed = True
            self.inflight.popleft()
            progressed = True
        return progressed

    def _apply(self, batch: _Batch) -> bool:
        """Replay a batch's row outcomes on the trackers (this stage's, then each fused
        one's), in row order; False if the run must end (a fatal error, or STOP)."""
        if not self.tail:
            return self._apply_rows(batch.meta, batch.rows)
        metas = self._reached(batch.meta)
        self.sizer.observe(batch.rows, sum(m.elapsed_s for m in batch.meta))
        for stage, meta in zip((self, *self.tail), metas):
            if stage is not self and meta.rows and not stage.tracker.started:
                perform(stage.tracker.start())
            if not stage._apply_rows(meta, None):
                return False
        return True

    def _reached(self, metas: tuple) -> list:
        """A fused batch's outcomes as far as the synchronous runner, pulling row by
        row through the chain, would have got: if a STOP step failed, the steps before
        it report only the rows up to the one that fed the failing row."""
        stages = (self, *self.tail)
        first = None  # (head row, stage, row): the failure that comes first in row order
        for k, (stage, meta) in enumerate(zip(stages, metas)):
            if stage.node.on_error is OnError.STOP and meta.errors:
                row = meta.errors[0][0]
                head = row
                for j in range(k - 1, -1, -1):
                    head = _input_row(metas[j].errors, head)
                if first is None or head < first[0]:
                    first = (head, k, row)
        if first is None:
            return list(metas)
        _, k, row = first
        out = list(metas)
        out[k] = _truncated(metas[k], row + 1)
        for j in range(k - 1, -1, -1):
            row = _input_row(metas[j].errors, row)
            out[j] = _truncated(metas[j], row + 1)
        return out

    def _apply_rows(self, meta: BatchOutcome, rows: int | None) -> bool:
        ok, errors = meta.ok, meta.errors
        if meta.setup_error is not None:
            self.core.set_fatal(meta.setup_error, None)
            self.finish()
            return False
        if rows is not None:
            self.sizer.observe(meta.rows, meta.elapsed_s)
        if ok:
            self.sink.item_bytes = meta.nbytes // ok
        tracker, seen = self.tracker, 0
        for index, exc in errors:
            tracker.success += index - seen
            seen = index + 1
            if isinstance(exc, ItemNotSerialisable):  # now its index in the whole output
                exc = exc.error_for(tracker.success + tracker.errors)
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
        """Every consumer left: stop reading, stop and drop work in flight (no
        COMPLETED, as a lazy EACH stream that nobody pulls to the end never completes)."""
        self.intake.close()
        self._halt()
        for stage in (self, *self.tail):
            stage.finish()

    def _halt(self) -> None:
        """Batches in flight stop where they run (``stopping``: never ``ray.cancel``)."""
        if any(b.refs and b.meta is None for b in self.inflight):  # still running
            self.halt()
        self.inflight.clear()

    def finish(self) -> None:
        if not self.done:
            self.done = True
            for actor, pooled in self.actors:
                self.t.release(actor, self.slot, pooled)

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self._halt()
            for actor, _ in self.actors:
                self.t.kill(actor)

    def blocked(self) -> str:
        if self.inflight and self.inflight[0].meta is not None:
            return f"step '{self.last.name}' ({full_handoff(self.last.node)})"
        return f"step '{self.name}' waits for rows"


def _input_row(errors: list, success: int) -> int:
    """The input row of a step's ``success``-th result (0-based), given its failed
    rows ``[(row, exc), ...]`` in row order."""
    row = success
    for index, _ in errors:
        if index > row:
            break
        row += 1
    return row


def _truncated(meta: BatchOutcome, rows: int) -> BatchOutcome:
    """A batch outcome cut to its first ``rows`` input rows."""
    kept = [e for e in meta.errors if e[0] < rows]
    return meta._replace(ok=min(meta.ok, rows - len(kept)), errors=kept)
