"""``FanoutState`` under random interleavings (a hypothesis state machine, and long
seeded random schedules over the same model).

Consumers poll, pull from the source when told to, and close at random; the source
has a random length and may fail at a random point; the run may abort. Checked
after every step: no live buffer exceeds the capacity; every item pulled is
received, buffered or (one at most) held for a full branch, so the producer is at
most ``capacity`` + 1 ahead of any live reader; every consumer receives the items in
source order, each once; END only after every item, the source error only after
every item before it; WAIT only when some live branch is really full (and its reader
is reading, or an item is already held) or a pull is under way, so a closed,
drained or idle consumer never holds the others back for good; after an abort
everyone gets the run's error at once. At the end every live consumer is driven
round-robin and must finish (no WAIT forever).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from synaflow.engine.channels import END, ERROR, ITEM, PULL, WAIT, FanoutState


class SourceFailed(Exception):
    pass


class Aborted(Exception):
    pass


class FanoutModel:
    """A model of the drivers around one ``FanoutState``; ``pending`` is the consumer
    that was told to PULL and has not reported yet."""

    def __init__(self, n_consumers: int, capacity: int, length: int,
                 fail_at: int | None) -> None:
        self.names = [f"c{i}" for i in range(n_consumers)]
        self.capacity = capacity
        self.source = [10 * i + 7 for i in range(length)]
        self.fail_at = fail_at if fail_at is not None and fail_at <= length else None
        self.error = SourceFailed("source broke")
        self.abort_error: BaseException | None = None
        self.state = FanoutState("src", self.names, capacity)
        self.position = 0  # items read from the source so far
        self.pending: str | None = None
        self.received: dict[str, list] = {c: [] for c in self.names}
        self.outcome: dict[str, object] = {}  # consumer -> END / the error it got
        self.closed: set[str] = set()
        self.reading: set[str] = set()  # last poll gave an item: it will poll again

    def active(self) -> list[str]:
        return [c for c in self.names if c not in self.outcome and c not in self.closed]

    def _expected_items(self) -> list[int]:
        return self.source if self.fail_at is None else self.source[:self.fail_at]

    # -- actions ----------------------------------------------------------------------
    def poll(self, c: str) -> str:
        before = self.state.version
        kind, value = self.state.poll(c)
        self.reading.discard(c)
        if kind == ITEM:
            self.reading.add(c)
            assert self.abort_error is None, "an item was delivered after the abort"
            self.received[c].append(value)
            n = len(self.received[c])
            assert self.received[c] == self.source[:n], "out of order or duplicated"
            assert self.fail_at is None or n <= self.fail_at
            assert self.state.version != before
        elif kind == END:
            assert self.abort_error is None
            assert self.received[c] == self.source, "END before every item arrived"
            self.outcome[c] = END
        elif kind == ERROR:
            if self.abort_error is not None:
                assert value is self.abort_error
            else:
                assert value is self.error
                assert self.received[c] == self._expected_items(), \
                    "the source error overtook buffered items"
            self.outcome[c] = value
        elif kind == PULL:
            assert self.pending is None, "two callers pulling at once"
            assert self.abort_error is None and self.position <= len(self.source)
            self.pending = c
        else:
            assert kind == WAIT
            self._check_wait_is_justified(c, value)
        self.check_invariants()
        return kind

    def _check_wait_is_justified(self, c: str, reason: str) -> None:
        assert not self.state.buffers[c], "waiting with items buffered"
        if self.pending is not None:
            return
        held = self.state.held
        live = [x for x in self.names if x not in self.closed]
        full = [x for x in live if len(self.state.buffers[x]) + (x in held) >= self.capacity]
        assert full, f"{c} told to wait though no live branch is full: {reason}"
        assert f"->{full[0]} full" in reason
        # one item may be pulled for full branches whose readers are not reading
        assert held or any(x in self.reading for x in full), \
            f"{c} waits for branches nobody reads: the end of the source is never seen"

    def complete_pull(self) -> None:
        before = self.state.version
        self.pending = None
        if self.fail_at is not None and self.position == self.fail_at:
            self.state.failed(self.error)
        elif self.position == len(self.source):
            self.state.exhausted()
        else:
            self.state.pulled(self.source[self.position])
            self.position += 1
        assert self.state.version != before
        self.check_invariants()

    def close(self, c: str) -> None:
        before = self.state.version
        self.state.close(c)
        self.closed.add(c)
        assert self.state.version != before
        assert self.state.poll(c) == (END, None), "a closed branch must read as ended"
        self.check_invariants()

    def abort(self) -> None:
        """Everyone still reading gets the run's error at once (buffers are dropped);
        a source failure that came first stays the error they see."""
        err = Aborted("run ended")
        self.abort_error = self.state.error if self.state.error is not None else err
        self.state.abort(err)
        if self.pending is not None:  # the pull under way still reports its item
            self.complete_pull()
        for c in self.active():
            kind, value = self.state.poll(c)
            assert (kind, value) == (ERROR, self.abort_error), "abort must wake everyone"
            self.outcome[c] = value
        self.check_invariants()

    # -- checks -----------------------------------------------------------------------
    def check_invariants(self) -> None:
        for c in self.names:
            if c not in self.closed:
                assert len(self.state.buffers[c]) <= self.capacity, "buffer over capacity"
            else:
                assert not self.state.buffers[c], "a closed branch keeps items"
        assert self.state.peak <= self.capacity
        for c in self.names:
            assert self.state.in_flight(c) == len(self.state.buffers[c])
        # every item pulled is received, buffered or held, once; so the producer is
        # never more than the capacity (+1 held) ahead of a live reader
        assert len(set(map(id, self.state.held.values()))) <= 1, "more than one item held"
        for c in self.names:
            if c not in self.closed and c not in self.outcome and self.abort_error is None:
                owed = len(self.state.buffers[c]) + (c in self.state.held)
                assert self.position - len(self.received[c]) == owed, "an item lost"
                assert owed <= self.capacity + 1, "producer ran ahead"
        over = self.state.done or self.state.error is not None
        assert self.state.finished == (over or len(self.closed) == len(self.names))

    def finish(self) -> None:
        """Drive every remaining consumer round-robin: each must end (no WAIT forever),
        with every item (END) or every item before the failure (the source error)."""
        budget = 4 * (len(self.source) + 2) * (len(self.names) + 1) * (self.capacity + 1)
        while self.active() or self.pending is not None:
            budget -= 1
            assert budget > 0, "live consumers keep waiting: a livelock or a lost wake-up"
            if self.pending is not None:
                self.complete_pull()
                continue
            for c in self.active():
                self.poll(c)
        for c in self.names:
            if c in self.closed and c not in self.outcome:
                continue
            if self.abort_error is not None and self.outcome[c] is self.abort_error:
                continue
            if self.fail_at is None:
                assert self.outcome[c] is END
                assert self.received[c] == self.source
            else:
                assert self.outcome[c] is self.error
                assert self.received[c] == self.source[:self.fail_at]
        assert self.state.finished


class FanoutMachine(RuleBasedStateMachine):
    """Hypothesis picks the next action; the model checks every answer."""

    @initialize(n_consumers=st.integers(1, 4), capacity=st.integers(1, 4),
                length=st.integers(0, 12), fail_at=st.none() | st.integers(0, 12))
    def setup(self, n_consumers, capacity, length, fail_at):
        self.model = FanoutModel(n_consumers, capacity, length, fail_at)

    @precondition(lambda self: self.model.active())
    @rule(data=st.data())
    def poll(self, data):
        """One consumer polls; told to PULL, it reads the source now or later."""
        kind = self.model.poll(data.draw(st.sampled_from(self.model.active())))
        if kind == PULL and data.draw(st.booleans()):
            self.model.complete_pull()

    @precondition(lambda self: self.model.active())
    @rule()
    def poll_round(self):
        """Every active consumer polls once (the common, fair schedule)."""
        for c in self.model.active():
            self.model.poll(c)

    @precondition(lambda self: self.model.pending is not None)
    @rule()
    def complete_pull(self):
        self.model.complete_pull()

    @precondition(lambda self: len(self.model.closed) < len(self.model.names) - 1)
    @rule(data=st.data())
    def close(self, data):
        """A consumer leaves (finished, failed, skipped); one always stays."""
        m = self.model
        m.close(data.draw(st.sampled_from([x for x in m.names if x not in m.closed])))

    @precondition(lambda self: self.model.abort_error is None)
    @rule()
    def abort(self):
        self.model.abort()

    @rule()
    def check(self):
        self.model.check_invariants()

    def teardown(self):
        if hasattr(self, "model"):
            self.model.finish()


FanoutMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                           deadline=None)
TestFanoutMachine = FanoutMachine.TestCase


@settings(max_examples=120, deadline=None)
@given(n_consumers=st.integers(1, 4), capacity=st.integers(1, 4), length=st.integers(1, 12),
       fail_at=st.none() | st.integers(0, 12), with_abort=st.booleans(),
       rnd=st.randoms(use_true_random=True))
def test_random_schedules(n_consumers, capacity, length, fail_at, with_abort, rnd):
    """The same model over long random schedules: mostly polls and pulls, some closes,
    at most one abort."""
    m = FanoutModel(n_consumers, capacity, length, fail_at)
    actions = ["poll", "round", "pull", "close", "abort"]
    weights = [50, 10, 25, 4, 2 if with_abort else 0]
    pace = {c: rnd.choice([0.02, 1, 1, 5]) for c in m.names}  # some readers lag
    for _ in range(80):
        kind = rnd.choices(actions, weights)[0]
        active = m.active()
        if kind == "poll" and active:
            c = rnd.choices(active, [pace[x] for x in active])[0]
            if m.poll(c) == PULL and rnd.random() < 0.5:
                m.complete_pull()
        elif kind == "round":
            for c in active:
                m.poll(c)
        elif kind == "pull" and m.pending is not None:
            m.complete_pull()
        elif kind == "close" and len(m.closed) < len(m.names) - 1:
            m.close(rnd.choice([c for c in m.names if c not in m.closed]))
        elif kind == "abort" and m.abort_error is None:
            m.abort()
    m.finish()


# -- a few direct cases -----------------------------------------------------------------


def _drain(state: FanoutState, consumer: str, source: list) -> list:
    """A single caller doing everything (for the table cases below)."""
    got = []
    it = iter(source)
    while True:
        kind, value = state.poll(consumer)
        if kind == ITEM:
            got.append(value)
        elif kind == PULL:
            try:
                state.pulled(next(it))
            except StopIteration:
                state.exhausted()
        elif kind == END:
            return got
        else:
            raise AssertionError((kind, value))


def test_closed_sibling_does_not_block():
    """'b' left without reading: 'a' still gets every item."""
    state = FanoutState("src", ["a", "b"], 1)
    state.close("b")
    assert _drain(state, "a", list(range(5))) == [0, 1, 2, 3, 4]


def test_unread_sibling_blocks_at_capacity():
    """'b' is alive but not reading: 'a' may run ahead by the capacity, plus the one
    item held for 'b'."""
    state = FanoutState("src", ["a", "b"], 3)
    got = []
    for item in range(10):
        kind, _ = state.poll("a")
        if kind == WAIT:
            break
        if kind == PULL:
            state.pulled(item)
        kind, value = state.poll("a")
        assert kind == ITEM
        got.append(value)
    assert got == [0, 1, 2, 3]
    assert list(state.buffers["b"]) == [0, 1, 2] and state.held == {"b": 3}
    kind, reason = state.poll("a")
    assert kind == WAIT and reason == "handoff src->b full (3/3 in flight)"
    state.close("b")
    assert state.held == {}
    assert state.poll("a") == (PULL, None)


def test_unread_branch_sees_the_end():
    """'a' read everything while 'b' (not reading yet) is full: one more pull is
    allowed, so 'a' learns the end (``max_in_flight`` == stream length completes)."""
    state = FanoutState("src", ["a", "b"], 3)
    assert _drain(state, "a", [0, 1, 2]) == [0, 1, 2]
    assert [state.poll("b") for _ in range(4)] == [(ITEM, 0), (ITEM, 1), (ITEM, 2),
                                                    (END, None)]


def test_one_item_held_for_a_full_branch():
    """One item longer than the capacity: it is held for 'b', delivered after b's
    buffer; then 'a' waits (only one item may be held)."""
    state = FanoutState("src", ["a", "b"], 1)
    assert state.poll("a") == (PULL, None)
    state.pulled(0)
    assert state.poll("a") == (ITEM, 0)
    assert state.poll("a") == (PULL, None)  # 'b' is full but not reading
    state.pulled(1)
    assert state.held == {"b": 1} and list(state.buffers["b"]) == [0]
    assert state.poll("a") == (ITEM, 1)
    assert state.poll("a") == (WAIT, "handoff src->b full (1/1 in flight)")
    assert state.poll("b") == (ITEM, 0)
    assert state.poll("b") == (ITEM, 1)
    assert state.poll("b") == (PULL, None)


def test_no_hold_while_reader_reads():
    """A full branch whose reader took an item and will come back: no extra pull."""
    state = FanoutState("src", ["a", "b"], 1)
    assert state.poll("a") == (PULL, None)
    state.pulled(0)
    assert state.poll("b") == (ITEM, 0)
    assert state.poll("a") == (ITEM, 0)
    assert state.poll("a") == (PULL, None)
    state.pulled(1)
    assert state.poll("a") == (ITEM, 1)
    assert state.poll("a")[0] == WAIT  # 'b' is busy with item 0, its buffer full
    assert state.poll("b") == (ITEM, 1)
    assert state.poll("a") == (PULL, None)


def test_error_after_buffered_items():
    state = FanoutState("src", ["a", "b"], 2)
    assert state.poll("a") == (PULL, None)
    state.pulled(1)
    assert state.poll("b") == (ITEM, 1)
    assert state.poll("b") == (PULL, None)
    err = SourceFailed("x")
    state.failed(err)
    assert state.poll("a") == (ITEM, 1)
    assert state.poll("a") == (ERROR, err)
    assert state.poll("b") == (ERROR, err)


def test_abort_drops_item_pulled_meanwhile():
    """An item that arrives after the abort is not delivered: the error comes first."""
    state = FanoutState("src", ["a", "b"], 2)
    assert state.poll("a") == (PULL, None)
    err = Aborted("stop")
    state.abort(err)
    state.pulled(1)
    assert state.poll("a") == (ERROR, err)
    assert state.poll("b") == (ERROR, err)


@pytest.mark.parametrize("capacity", [0, -3])
def test_capacity_at_least_one(capacity):
    assert FanoutState("src", ["a"], capacity).capacity == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(consumers=st.integers(1, 4), capacity=st.integers(1, 5), length=st.integers(0, 20),
       order=st.randoms(use_true_random=True))
def test_random_schedule_delivers_everything(consumers, capacity, length, order):
    """Random interleavings without closes or failures: everyone gets the whole source."""
    names = [f"c{i}" for i in range(consumers)]
    state = FanoutState("src", names, capacity)
    source = iter(range(length))
    got = {c: [] for c in names}
    live = list(names)
    for _ in range(10_000):
        if not live:
            break
        c = order.choice(live)
        kind, value = state.poll(c)
        if kind == ITEM:
            got[c].append(value)
        elif kind == PULL:
            item = next(source, None)
            state.exhausted() if item is None else state.pulled(item)
        elif kind == END:
            live.remove(c)
        else:
            assert kind == WAIT
        assert all(len(b) <= capacity for b in state.buffers.values())
    assert not live
    assert all(g == list(range(length)) for g in got.values())
