"""Example pipelines and helpers for the Ray runner's tests.

Step functions live here, at module level, so Ray workers can run them; the module
is pickled by value (``conftest.py``), so workers need not import it.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from synaflow import Observer, OnError, pipeline, run, step
from synaflow.distributed import ray_run

MODES = ("sync", "debug", "serialize", "ray")


def run_mode(mode: str, p: Any, params: Any, overrides: Any = None, **options: Any) -> Any:
    """Run ``p`` with the sync runner or the Ray runner in one of its modes."""
    if mode == "sync":
        return run(p, params, overrides)
    debug = {"debug": True, "serialize": "serialize", "ray": False}[mode]
    return ray_run(p, params, overrides, debug=debug, **options)


class Recorder:
    """Observer + error materializer that record what the driver reports."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple] = []
        self.errors: list[Any] = []

    def observe(self, ctx: Any) -> None:
        counts = tuple(getattr(ctx, k) for k in ("success_count", "error_count")
                       if hasattr(ctx, k))
        with self.lock:
            self.events.append((ctx.event.value, getattr(ctx, "step_name", None), counts,
                                os.getpid(), threading.current_thread().name))

    def error(self, err: Any) -> None:  # not named ctx: that would make it a factory
        with self.lock:
            self.errors.append(err)

    def per_step(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for event, step_name, counts, _, _ in self.events:
            if step_name is not None and not event.startswith("pipeline_"):
                out.setdefault(step_name, []).append((event, counts))
        return out

    def pipeline_events(self) -> list[str]:
        return [e for e, *_ in self.events if e.startswith("pipeline_")]

    def error_summary(self) -> list[tuple]:
        return sorted((c.step_name, type(c.exception).__name__, c.success_count,
                       c.error_count) for c in self.errors)


def make(name: str, params: Any, steps: list, rec: Recorder | None = None, **kw: Any) -> Any:
    if rec is not None:
        kw.setdefault("observers", [Observer(rec.observe)])
        kw.setdefault("error_materializer", rec.error)
    return pipeline(name=name, params=params, steps=steps, **kw)


class N(NamedTuple):
    n: int


class Xs(NamedTuple):
    xs: list[int]


# -- value chain ---------------------------------------------------------------------------
def base(n: int) -> int:
    return n + 1


def doubled_base(base: int) -> int:
    return base * 2


def described(doubled_base: int, n: int) -> str:
    return f"{n}->{doubled_base}"


def value_chain(rec: Recorder | None = None) -> Any:
    return make("value_chain", N, [step("base", fn=base), step("doubled_base", fn=doubled_base),
                                   step("described", fn=described)], rec)


# -- generator -> EACH -> ALL ------------------------------------------------------------
def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def squared(numbers: int) -> int:
    if numbers % 7 == 3:
        raise ValueError(f"unlucky {numbers}")
    return numbers * numbers


def total(squared: Iterator[int]) -> int:
    return sum(squared)


def gen_each_sum(rec: Recorder | None = None, mif: int = 1, **each: Any) -> Any:
    return make("gen_each_sum", N, [
        step("numbers", fn=numbers, max_in_flight=mif),
        step("squared", fn=squared, max_in_flight=mif, **each),
        step("total", fn=total)], rec)


# -- fan-out to two consumers -----------------------------------------------------------------
def plus_one(numbers: int) -> int:
    return numbers + 1


def count_all(numbers: Iterator[int]) -> int:
    return sum(1 for _ in numbers)


def collect_plus(plus_one: list[int], count_all: int) -> tuple:
    return (plus_one, count_all)


def fan_out(rec: Recorder | None = None, mif: int = 2) -> Any:
    return make("fan_out", N, [step("numbers", fn=numbers, max_in_flight=mif),
                               step("plus_one", fn=plus_one),
                               step("count_all", fn=count_all),
                               step("collect_plus", fn=collect_plus)], rec)


# -- fan-in zip with parallel EACH ------------------------------------------------------------
def slow(numbers: int) -> int:
    time.sleep(0.002 * (numbers % 5))  # uneven work: batches finish out of order
    return numbers * 10


def fast(numbers: int) -> int:
    return -numbers


def paired(slow: int, fast: int) -> tuple:
    return (slow, fast)


def zip_align(rec: Recorder | None = None) -> Any:
    return make("zip_align", N, [step("numbers", fn=numbers, max_in_flight=4),
                                 step("slow", fn=slow, ray={"batch_size": 3}),
                                 step("fast", fn=fast),
                                 step("paired", fn=paired)], rec)


# -- errors --------------------------------------------------------------------------------
def checked(xs: int) -> int:
    if xs % 3 == 0:
        raise KeyError(f"bad {xs}")
    return xs


def kept(checked: list[int]) -> list[int]:
    return checked


def errors_pipeline(rec: Recorder, policy: OnError = OnError.CONTINUE, **limits: Any) -> Any:
    return make(f"errors_{policy.value}", Xs, [
        step("checked", fn=checked, on_error=policy, **limits),
        step("kept", fn=kept)], rec)


class Unpicklable(Exception):
    """An exception carrying a lock: it cannot travel back from a worker."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def explode(n: int) -> int:
    raise LookupError(f"no entry for {n}")


def explode_unpicklable(n: int) -> int:
    raise Unpicklable(f"cannot ship {n}")


def single(fn: Any, rec: Recorder, policy: OnError = OnError.CONTINUE) -> Any:
    return make(f"single_{fn.__name__}", N, [step(fn.__name__, fn=fn, on_error=policy)], rec)


# -- slow work, for STOP and Ctrl-C ---------------------------------------------------------
def nap(xs: int) -> int:
    if xs == 0:
        raise RuntimeError("first row fails")
    time.sleep(3.0)
    return xs


def naps(rec: Recorder | None = None) -> Any:
    return make("naps", Xs, [step("nap", fn=nap, on_error=OnError.STOP,
                                  ray={"batch_size": 1})], rec)


def where(xs: int) -> tuple:
    """Which task and actor ran this row (empty names outside Ray)."""
    import ray

    if not ray.is_initialized():
        return (xs, None, None)
    ctx = ray.get_runtime_context()
    return (xs, ctx.get_task_name(), ctx.get_actor_name())


def named(rec: Recorder | None = None, **ray_options: Any) -> Any:
    return make("named", Xs, [step("where", fn=where, ray=ray_options or None)], rec)


# -- the max_in_flight bound, counted ------------------------------------------------------
@dataclass(frozen=True)
class Stamp:
    """An item and the moment it was produced."""

    i: int
    t: float


def stamped(n: int) -> Iterator[Stamp]:
    for i in range(n):
        yield Stamp(i, time.time())


def received(stamped: Stamp) -> tuple:
    """Records the moment the consumer got the item, then works a little."""
    now = time.time()
    time.sleep(0.01)
    return (stamped.i, stamped.t, now)


def slow_sum(stamped: Iterator[Stamp]) -> list:
    out = []
    for item in stamped:
        out.append((item.i, item.t, time.time()))
        time.sleep(0.005)
    return out


def bounded_each(mif: int, rec: Recorder | None = None) -> Any:
    return make("bounded_each", N, [
        step("stamped", fn=stamped, max_in_flight=mif),
        step("received", fn=received, ray={"batch_size": 1, "replicas": 1})], rec)


def bounded_all(mif: int, rec: Recorder | None = None) -> Any:
    return make("bounded_all", N, [step("stamped", fn=stamped, max_in_flight=mif),
                                   step("slow_sum", fn=slow_sum, ray={"batch_size": 16})],
                rec)


def largest_gap(rows: list) -> int:
    """Max over time of (items produced - items received), from the timestamps."""
    emitted = sorted(r[1] for r in rows)
    got = sorted(r[2] for r in rows)
    gap, j = 0, 0
    for k, t in enumerate(emitted):
        while j < len(got) and got[j] <= t:
            j += 1
        gap = max(gap, k + 1 - j)
    return gap


# -- resources once per replica ---------------------------------------------------------------
class Tagged:
    """A resource that says which process made it, and how often it was used."""

    def __init__(self) -> None:
        import uuid

        self.id = uuid.uuid4().hex
        self.pid = os.getpid()
        self.uses = 0


def make_tagged() -> Tagged:
    return Tagged()


def tag(xs: int, res: Tagged) -> tuple:
    res.uses += 1
    return (xs, res.id, res.pid, res.uses)


def replicated(replicas: int | None) -> Any:
    opts = {"replicas": replicas, "batch_size": 2} if replicas else None
    return make("replicated", Xs, [step("tag", fn=tag, ray=opts)],
                resources={"res": make_tagged})


# -- options, names, serialisation -------------------------------------------------------------
def letters(n: int) -> Iterator[str]:
    for i in range(n):
        yield "abcdefghij"[i % 10]


def actor_name_of(letters: Iterator[str]) -> tuple:
    """An ALL step that reads a stream runs in an actor: report its name."""
    import ray

    items = list(letters)
    name = ray.get_runtime_context().get_actor_name() if ray.is_initialized() else None
    return (items, name)


def in_actor(**ray_options: Any) -> Any:
    return make("in_actor", N, [step("letters", fn=letters),
                                step("actor_name_of", fn=actor_name_of,
                                     ray=ray_options or None)])


def returns_lock(n: int) -> Any:
    return threading.Lock()


def lock_value() -> Any:
    return make("lock_value", N, [step("returns_lock", fn=returns_lock)])


# -- Ctrl-C ---------------------------------------------------------------------------------
class Marks(NamedTuple):
    n: int
    marks: str


def counted(n: int, marks: str) -> Iterator[int]:
    yield from range(n)


def sleepy(counted: int, marks: str) -> int:
    time.sleep(2.0)
    with open(os.path.join(marks, f"done-{counted}"), "w"):
        pass
    return counted


def gathered(sleepy: Iterator[int]) -> list:
    return list(sleepy)


def interrupted(observer: Any) -> Any:
    return make("ctrlc", Marks, [step("counted", fn=counted, ray={"num_cpus": 0}),
                                 step("sleepy", fn=sleepy, ray={"batch_size": 1}),
                                 step("gathered", fn=gathered)],
                observers=[Observer(observer)])


# -- resources whose factory raises --------------------------------------------------------
class Link:
    """A connection that cannot be made."""


def unreachable() -> Link:
    raise ConnectionError("no route to host")


def fetched(numbers: int, link: Link) -> int:
    return numbers


def fetched_squared(squared: int, link: Link) -> int:
    return squared


def opened(n: int, link: Link) -> int:
    return n


def counted_with(numbers: Iterator[int], link: Link) -> int:
    return sum(1 for _ in numbers)


def make_link() -> Link:
    return Link()


def sorted_with(numbers: Iterator[int], link: Link) -> Iterator[int]:
    """Not a generator: reads its whole input stream when called, then streams on."""
    return iter(sorted(numbers, reverse=True))


def eager_stream_reader() -> Any:
    """numbers -> a stream step with a resource that reads its input when called ->
    a whole-stream reader."""
    return make("eager_reader", N, [step("numbers", fn=numbers),
                                    step("sorted_with", fn=sorted_with),
                                    step("gathered_sorted", fn=gathered_sorted)],
                resources={"link": make_link})


def gathered_sorted(sorted_with: Iterator[int]) -> list:
    return list(sorted_with)


def resource_fails(where: str, rec: Recorder | None = None) -> Any:
    """A step whose resource factory raises: a value step, or a reader of numbers (a
    generator): an EACH step, one behind another EACH step, or a step reading the
    whole stream."""
    if where == "each":
        steps = [step("numbers", fn=numbers), step("fetched", fn=fetched)]
    elif where == "each_chain":
        steps = [step("numbers", fn=numbers), step("squared", fn=squared),
                 step("fetched_squared", fn=fetched_squared)]
    elif where == "value":
        steps = [step("opened", fn=opened)]
    else:
        steps = [step("numbers", fn=numbers), step("counted_with", fn=counted_with)]
    return make(f"resource_fails_{where}", N, steps, rec, resources={"link": unreachable})


# -- stopping long calls (no ray.cancel) ----------------------------------------------------
class Xm(NamedTuple):
    xs: list[int]
    marks: str


def _mark(marks: str, name: str) -> None:
    with open(os.path.join(marks, name), "w"):
        pass


def _spin_marked(key: Any, marks: str, seconds: float = 30.0) -> None:
    """Pure-Python work for ``seconds``, leaving ``started-``/``done-`` marks, or a
    ``stopped-<key>-<exception>`` mark when something interrupts it."""
    _mark(marks, f"started-{key}")
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    except BaseException as exc:
        _mark(marks, f"stopped-{key}-{type(exc).__name__}")
        raise
    _mark(marks, f"done-{key}")


def long_row(xs: int, marks: str) -> int:
    """Row 0 fails after half a second; the others take 30 s unless stopped."""
    if xs == 0:
        time.sleep(0.5)
        raise RuntimeError("first row fails")
    _spin_marked(xs, marks)
    return xs


def long_rows() -> Any:
    return make("long_rows", Xm, [step("long_row", fn=long_row, on_error=OnError.STOP,
                                       ray={"batch_size": 1})])


def fails_soon(marks: str) -> int:
    time.sleep(0.5)
    raise RuntimeError("a sibling fails")


def long_value(marks: str) -> int:
    _spin_marked("value", marks)
    return 1


def long_value_and_failure() -> Any:
    return make("long_value", Xm, [step("fails_soon", fn=fails_soon, on_error=OnError.STOP),
                                   step("long_value", fn=long_value)])


def long_value_with_resource(marks: str, res: Tagged) -> int:
    _spin_marked("value", marks)
    return 1


def long_value_with_resource_and_failure() -> Any:
    """As ``long_value_and_failure``, the long step holding a resource (on Ray: a
    streaming task)."""
    return make("long_value_res", Xm, [
        step("fails_soon", fn=fails_soon, on_error=OnError.STOP),
        step("long_value_with_resource", fn=long_value_with_resource)],
        resources={"res": make_tagged})


# -- retry_exceptions ---------------------------------------------------------------------
class Flaky(NamedTuple):
    xs: list[int]
    marks: str


def flaky(xs: int, marks: str) -> int:
    """Item 3 fails on its first attempt (item 5: on every attempt)."""
    mark = os.path.join(marks, f"tried-{xs}")
    first = not os.path.exists(mark)
    with open(mark, "a") as f:
        f.write("x")
    if xs == 5 or (xs == 3 and first):
        raise ConnectionError(f"flaky {xs}")
    return xs


def flaky_total(xs: list[int], marks: str, res: Tagged) -> int:
    """A value step with a resource that fails on its first attempt."""
    mark = os.path.join(marks, "tried-total")
    first = not os.path.exists(mark)
    with open(mark, "a") as f:
        f.write("x")
    if first:
        raise ConnectionError("flaky total")
    return sum(xs)


def tagged_total(n: int, res: Tagged) -> int:
    res.uses += 1
    return sum(range(n + 1))


def value_with_resource(rec: Recorder) -> Any:
    return make("value_with_resource", N, [step("tagged_total", fn=tagged_total)], rec,
                resources={"res": make_tagged})


def flaky_value(rec: Recorder, **ray_options: Any) -> Any:
    return make("flaky_value", Flaky, [step("flaky_total", fn=flaky_total,
                                            ray=ray_options or None)],
                rec, resources={"res": make_tagged})


def flaky_pipeline(rec: Recorder, **ray_options: Any) -> Any:
    return make("flaky", Flaky, [step("flaky", fn=flaky, ray=ray_options or None)], rec)


# -- data stays off the driver ------------------------------------------------------------------
def blob(n: int) -> bytes:
    return b"x" * (n << 20)


def left_len(blob: bytes) -> int:
    return len(blob)


def right_len(blob: bytes) -> int:
    return len(blob) * 2


def both(left_len: int, right_len: int) -> tuple:
    return (left_len, right_len)


def shared_value() -> Any:
    return make("shared", N, [step("blob", fn=blob), step("left_len", fn=left_len),
                              step("right_len", fn=right_len), step("both", fn=both)])


def probe(xs: int) -> tuple:
    """What the worker running this row sees: an env var and its assigned CPUs."""
    import ray

    cpus = None
    if ray.is_initialized():
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    return (xs, os.environ.get("SYNAFLOW_PROBE"), cpus)


def probed() -> Any:
    return make("probed", Xs, [step("probe", fn=probe)])


def stuck(n: int) -> int:
    time.sleep(10)
    return n


def stuck_pipeline() -> Any:
    return make("stuck", N, [step("stuck", fn=stuck)])


def crash_once(xs: int, marks: str, res: Tagged) -> tuple:
    """Row 7 kills its replica's process the first time it runs."""
    mark = os.path.join(marks, "crashed")
    if xs == 7 and not os.path.exists(mark):
        open(mark, "w").close()
        os._exit(1)
    time.sleep(0.01)
    return (xs, res.id)


def crashing_replicas() -> Any:
    return make("crashing", Flaky, [step("crash_once", fn=crash_once,
                                         ray={"replicas": 2, "batch_size": 2})],
                resources={"res": make_tagged})


# -- the max_in_flight_bytes bound, counted ---------------------------------------------------
MiB = 2**20


class Sizes(NamedTuple):
    sizes: tuple


def blobs(sizes: tuple) -> Iterator[bytes]:
    for i, size in enumerate(sizes):
        yield bytes([i]) * size


def took(blob: bytes) -> tuple:
    """A slow EACH reader: (index, size)."""
    time.sleep(0.01)
    return (blob[0], len(blob))


def drank(blobs: Iterator[bytes]) -> list:
    """A slow ALL reader."""
    out = []
    for b in blobs:
        out.append((b[0], len(b)))
        time.sleep(0.005)
    return out


def byte_bounded(reader: Any, bound: Any) -> Any:
    """``blobs`` (max_in_flight=64, max_in_flight_bytes=``bound``) into a slow reader."""
    options = {"batch_size": 1, "replicas": 1} if reader is took else {"batch_size": 2}
    return make(f"bytes_{reader.__name__}", Sizes, [
        step("blobs", fn=blobs, max_in_flight=64, max_in_flight_bytes=bound),
        step(reader.__name__, fn=reader, ray=options)])


# -- a stream reader whose actor dies mid-stream ------------------------------------------
class Marked(NamedTuple):
    n: int
    marks: str


def counted(n: int) -> Iterator[int]:
    yield from range(n)


def read_all_once(counted: Iterator[int], marks: str) -> list:
    """Reads the whole stream; its process dies at item 30 on the first attempt."""
    with open(os.path.join(marks, "attempts"), "a") as f:
        f.write("x")
    seen = []
    for item in counted:
        if item == 30 and not os.path.exists(os.path.join(marks, "crashed")):
            open(os.path.join(marks, "crashed"), "w").close()
            os._exit(1)
        seen.append(item)
    return seen


def crashing_reader(max_bytes: Any = None) -> Any:
    return make("crashing_reader", Marked, [
        step("counted", fn=counted, max_in_flight=4, max_in_flight_bytes=max_bytes,
             ray={"batch_size": 8}),
        step("read_all_once", fn=read_all_once, ray={"batch_size": 8})])
