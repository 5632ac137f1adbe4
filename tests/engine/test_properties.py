"""Random pipelines on every local runner, checked against a plain-Python oracle.

Hypothesis draws a pipeline from a small grammar: generator sources, EACH maps,
ALL stream transforms, fan-outs to two or three consumers, zips of two EACH
streams, materialized ``list[...]`` consumers and lazy sinks, random
``max_in_flight`` (1-5) and random failing rows under ``OnError.CONTINUE``. The step
functions are generated as source text into a fresh module (registered in
``sys.modules``, with real type hints), once synchronous and once ``async def``.

For the synchronous runner, the asyncio runner (sync pipeline), the asyncio runner
on ``asyncify(p)`` and the asyncio runner on the generated async pipeline:

- outputs, status and error reports equal the oracle computed from the same spec;
- every edge delivers every item of its producer exactly once, in order (the
  generated functions record what they emit and what they receive);
- a lazy producer is never more than ``max_in_flight`` items ahead of any consumer
  (+1 on a fan-out, see ``_bound``), checked when each item is emitted;
- ``RunResult.steps`` is identical on every runner.

Lazy multi-input steps are zips, and a source takes part in one zip at most:
reading two branches of one fan-out in one step, or two steps each zipping the
same two fan-outs while a filter makes them drift, deadlock by design (the engine
then raises ``StallError``; ``test_hangs.py`` covers that).
"""
from __future__ import annotations

import asyncio
import itertools
import sys
import types
from collections import defaultdict
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synaflow import async_run, pipeline, run, step
from synaflow.testing.asyncify import asyncify

STREAMS = ("src", "each", "all", "zip")  # kinds whose output is a stream of ints
EACH_KINDS = ("each", "zip")
PREFIX = {"src": "s", "each": "m", "all": "t", "zip": "z", "sink": "k", "collect": "c"}


@dataclass(frozen=True)
class Node:
    """One generated step. ``k`` varies the arithmetic; ``fail`` (EACH kinds) makes
    rows whose value is a multiple of it raise."""

    kind: str
    name: str
    inputs: tuple[str, ...] = ()
    mif: int = 1
    k: int = 0
    fail: int | None = None


@dataclass(frozen=True)
class Spec:
    n: int
    nodes: tuple[Node, ...]

    def consumers(self, name: str) -> list[str]:
        return [x.name for x in self.nodes if name in x.inputs]


class Params(NamedTuple):
    n: int


# -- the grammar ----------------------------------------------------------------------


@st.composite
def specs(draw: Any) -> Spec:
    """Shapes come from a seeded ``random.Random`` (hypothesis reports the seed and the
    drawn ``Spec``): its draws are uniform, where hypothesis' own lean to the simplest
    choice and rarely produced transforms, fan-outs and materialized consumers."""
    rnd = draw(st.randoms(use_true_random=True))
    nodes: list[Node] = []
    uses: dict[str, int] = defaultdict(int)
    sources_of: dict[str, frozenset] = {}
    zipped: set[str] = set()  # sources already joined by a zip
    for _ in range(rnd.randint(1, 3)):
        name = f"s{len(nodes)}"
        nodes.append(Node("src", name, mif=rnd.randint(1, 5), k=rnd.randint(0, 3)))
        sources_of[name] = frozenset([name])
    for _ in range(rnd.randint(1, 6)):
        streams = [x.name for x in nodes if x.kind in STREAMS and uses[x.name] < 3]
        if not streams:
            break
        kind = rnd.choice(["each", "each", "all", "zip", "zip", "collect", "sink"])
        pairs = [(a, b) for a, b in itertools.combinations(streams, 2)
                 if not sources_of[a] & sources_of[b]
                 and not (sources_of[a] | sources_of[b]) & zipped]
        if kind == "zip" and not pairs:
            kind = "each"
        if kind == "zip":
            inputs = rnd.choice(pairs)
        elif kind == "collect":
            inputs = tuple(rnd.sample(streams, min(len(streams), rnd.randint(1, 2))))
        else:
            inputs = (rnd.choice(streams),)
        fail = rnd.choice([None, 2, 3, 5]) if kind in EACH_KINDS else None
        name = f"{PREFIX[kind]}{len(nodes)}"
        nodes.append(Node(kind, name, inputs, mif=rnd.randint(1, 5), k=rnd.randint(0, 3),
                          fail=fail))
        for i in inputs:
            uses[i] += 1
        sources_of[name] = frozenset().union(*(sources_of[i] for i in inputs))
        if kind == "zip":
            zipped |= sources_of[name]
    for x in list(nodes):  # every generator stream gets a reader
        if x.kind in ("src", "all") and uses[x.name] == 0:
            nodes.append(Node("sink", f"k{len(nodes)}", (x.name,)))
    return Spec(rnd.choice([0, 1, 3, 6, 9]), tuple(nodes))


# -- the oracle -----------------------------------------------------------------------


def _zip_value(a: int | None, b: int | None) -> int:
    return (-1 if a is None else a) * 1000 + (-1 if b is None else b)


def oracle(spec: Spec) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]]]:
    """(value of every node, expected RunResult.outputs, expected error reports)."""
    values: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for x in spec.nodes:
        ins = [values[i] for i in x.inputs]
        if x.kind == "src":
            values[x.name] = [3 * j + x.k for j in range(spec.n + x.k)]
        elif x.kind == "each":
            out = []
            for v in ins[0]:
                if x.fail and v % x.fail == 0:
                    errors.append((x.name, f"{x.name} rejects {v}"))
                else:
                    out.append(v * 2 + x.k)
            values[x.name] = out
        elif x.kind == "all":
            values[x.name] = [v + x.k for v in ins[0] if v % 3 != x.k % 3]
        elif x.kind == "zip":
            out = []
            for a, b in zip_longest(*ins):
                v = _zip_value(a, b)
                if x.fail and v % x.fail == 0:
                    errors.append((x.name, f"{x.name} rejects {v}"))
                else:
                    out.append(v)
            values[x.name] = out
        elif x.kind == "sink":
            values[x.name] = list(ins[0])
        else:
            values[x.name] = tuple(list(v) for v in ins)
    outputs = {x.name: values[x.name] for x in spec.nodes if not spec.consumers(x.name)}
    return values, outputs, sorted(errors)


# -- code generation ----------------------------------------------------------------------

_HELPERS = '''
import threading
from typing import AsyncIterator, Iterator, Optional

_LOCK = threading.Lock()
EMITTED = {}
RECEIVED = {}
MAX_AHEAD = {}
LAZY_CONSUMERS = {}
ERRORS = []


def reset(lazy_consumers):
    with _LOCK:
        EMITTED.clear(); RECEIVED.clear(); MAX_AHEAD.clear(); ERRORS.clear()
        LAZY_CONSUMERS.clear(); LAZY_CONSUMERS.update(lazy_consumers)


def _emit(producer, value):
    with _LOCK:
        emitted = EMITTED.setdefault(producer, [])
        emitted.append(value)
        for consumer in LAZY_CONSUMERS.get(producer, ()):
            ahead = len(emitted) - len(RECEIVED.get((producer, consumer), ()))
            edge = (producer, consumer)
            MAX_AHEAD[edge] = max(MAX_AHEAD.get(edge, 0), ahead)


def _recv(producer, consumer, value):
    with _LOCK:
        RECEIVED.setdefault((producer, consumer), []).append(value)


def record_error(err):  # not named ctx: that would make it a build-time factory
    with _LOCK:
        ERRORS.append((err.step_name, str(err.exception)))


async def arecord_error(err):
    record_error(err)
'''


def _fn_source(x: Node, native_async: bool) -> str:
    """The text of one step function (``native_async``: ``async def`` + async streams)."""
    d = "async def" if native_async else "def"
    stream = "AsyncIterator[int]" if native_async else "Iterator[int]"
    loop = "async for" if native_async else "for"
    if x.kind == "src":
        return (f"{d} {x.name}(n: int) -> {stream}:\n"
                f"    for j in range(n + {x.k}):\n"
                f"        v = 3 * j + {x.k}\n"
                f"        _emit('{x.name}', v)\n"
                f"        yield v\n")
    if x.kind == "each":
        (a,) = x.inputs
        check = (f"    if {a} % {x.fail} == 0:\n"
                 f"        raise ValueError(f'{x.name} rejects {{{a}}}')\n") if x.fail else ""
        return (f"{d} {x.name}({a}: int) -> int:\n"
                f"    _recv('{a}', '{x.name}', {a})\n{check}"
                f"    v = {a} * 2 + {x.k}\n"
                f"    _emit('{x.name}', v)\n"
                f"    return v\n")
    if x.kind == "all":
        (a,) = x.inputs
        return (f"{d} {x.name}({a}: {stream}) -> {stream}:\n"
                f"    {loop} v in {a}:\n"
                f"        _recv('{a}', '{x.name}', v)\n"
                f"        if v % 3 != {x.k % 3}:\n"
                f"            _emit('{x.name}', v + {x.k})\n"
                f"            yield v + {x.k}\n")
    if x.kind == "zip":
        a, b = x.inputs
        check = (f"    if v % {x.fail} == 0:\n"
                 f"        raise ValueError(f'{x.name} rejects {{v}}')\n") if x.fail else ""
        return (f"{d} {x.name}({a}: Optional[int], {b}: Optional[int]) -> int:\n"
                f"    if {a} is not None:\n"
                f"        _recv('{a}', '{x.name}', {a})\n"
                f"    if {b} is not None:\n"
                f"        _recv('{b}', '{x.name}', {b})\n"
                f"    v = (-1 if {a} is None else {a}) * 1000 + (-1 if {b} is None else {b})\n"
                f"{check}"
                f"    _emit('{x.name}', v)\n"
                f"    return v\n")
    if x.kind == "sink":
        (a,) = x.inputs
        return (f"{d} {x.name}({a}: {stream}) -> list:\n"
                f"    out = []\n"
                f"    {loop} v in {a}:\n"
                f"        _recv('{a}', '{x.name}', v)\n"
                f"        out.append(v)\n"
                f"    return out\n")
    params = ", ".join(f"{a}: list[int]" for a in x.inputs)
    body = "".join(f"    for v in {a}:\n        _recv('{a}', '{x.name}', v)\n"
                   for a in x.inputs)
    return (f"{d} {x.name}({params}) -> tuple:\n{body}"
            f"    return ({', '.join(f'list({a})' for a in x.inputs)},)\n")


_modules = itertools.count()


def generate(spec: Spec, native_async: bool) -> tuple[Any, types.ModuleType]:
    """A pipeline over freshly generated functions, and their module."""
    name = f"_synaflow_generated_{next(_modules)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    code = _HELPERS + "\n\n" + "\n\n".join(_fn_source(x, native_async) for x in spec.nodes)
    exec(compile(code, f"<{name}>", "exec"), module.__dict__)
    steps = [step(x.name, fn=getattr(module, x.name), max_in_flight=x.mif)
             for x in spec.nodes]
    handler = module.arecord_error if native_async else module.record_error
    p = pipeline(name="generated", params=Params, steps=steps, error_materializer=handler)
    return p, module


def _lazy_consumers(p: Any) -> dict[str, tuple[str, ...]]:
    """Producers whose items are handed on one at a time (not collected first)."""
    return {name: tuple(node.consumers) for name, node in p.dag.steps.items()
            if node.is_stream and not node.materialize_output}


# -- running ---------------------------------------------------------------------------


@dataclass
class Observed:
    result: Any
    emitted: dict
    received: dict
    max_ahead: dict
    errors: list


def _run(runner: str, p: Any, module: types.ModuleType, params: Params) -> Observed:
    module.reset(_lazy_consumers(p))
    if runner == "sync":
        result = run(p, params)
    else:
        result = asyncio.run(async_run(p, params))
    return Observed(result, {k: list(v) for k, v in module.EMITTED.items()},
                    {k: list(v) for k, v in module.RECEIVED.items()},
                    dict(module.MAX_AHEAD), sorted(module.ERRORS))


def _check(spec: Spec, seen: Observed, *, check_bound: bool, label: str) -> None:
    values, outputs, errors = oracle(spec)
    result = seen.result
    assert dict(result.outputs) == outputs, f"{label}: outputs"
    assert result.status == ("completed_with_errors" if errors else "succeeded"), label
    assert seen.errors == errors, f"{label}: error reports"
    for x in spec.nodes:
        if x.kind in STREAMS:
            assert seen.emitted.get(x.name, []) == values[x.name], \
                f"{label}: '{x.name}' emitted"
        for producer in x.inputs:
            got = seen.received.get((producer, x.name), [])
            assert got == values[producer], \
                f"{label}: edge {producer}->{x.name} lost, repeated or reordered items"
        if x.kind in EACH_KINDS:
            stats = result.steps[x.name]
            failed = sum(1 for s, _ in errors if s == x.name)
            assert (stats.items_out, stats.errors) == (len(values[x.name]), failed), label
    if check_bound:
        for (producer, consumer), ahead in seen.max_ahead.items():
            assert ahead <= _bound(spec, producer), (
                f"{label}: '{producer}' ran {ahead} items ahead of '{consumer}' "
                f"(max_in_flight={_bound(spec, producer)})")


def _bound(spec: Spec, producer: str) -> int:
    """How far ahead a lazy producer may be when it emits an item: ``max_in_flight``.
    A fan-out allows +1: a reader may hold an item it took from its buffer but has not
    handed to its function yet, or (never both) one item may be pulled for a full
    branch whose reader is not reading (``FanoutState.held``)."""
    mif = next(x.mif for x in spec.nodes if x.name == producer)
    return mif if len(spec.consumers(producer)) == 1 else mif + 1


def _forget(*modules: types.ModuleType) -> None:
    for m in modules:
        sys.modules.pop(m.__name__, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_random_pipelines_match_oracle(spec):
    """Sync, asyncio (sync pipeline), asyncio on asyncify(p) and asyncio on generated
    async functions all agree with the oracle and with each other."""
    params = Params(spec.n)
    p, module = generate(spec, native_async=False)
    ap, amodule = generate(spec, native_async=True)
    try:
        runs = {
            "sync": (_run("sync", p, module, params), True),
            "asyncio": (_run("asyncio", p, module, params), True),
            # asyncify's wrappers read a stream parameter whole before the body runs,
            # so the body's receive times say nothing about the hand-off bound there
            "asyncify": (_run("asyncio", asyncify(p), module, params), False),
            "async-native": (_run("asyncio", ap, amodule, params), True),
        }
        for label, (seen, bound) in runs.items():
            _check(spec, seen, check_bound=bound, label=label)
        reference = runs["sync"][0].result.steps
        for label, (seen, _) in runs.items():
            assert dict(seen.result.steps) == dict(reference), f"{label}: step stats differ"
    finally:
        _forget(module, amodule)


# -- the generator itself is worth a look -------------------------------------------------


def test_generated_functions_have_hints():
    """The generated module is importable by name and its functions carry real type
    hints (the pipeline is wired from them)."""
    import typing

    spec = Spec(3, (Node("src", "s0", mif=2), Node("each", "m1", ("s0",), fail=2),
                    Node("all", "t2", ("s0",)), Node("zip", "z3", ("m1", "t2")),
                    Node("sink", "k4", ("t2",))))
    p, module = generate(spec, native_async=False)
    ap, amodule = generate(spec, native_async=True)
    try:
        assert sys.modules[module.__name__] is module
        assert typing.get_type_hints(module.s0)["return"] == typing.Iterator[int]
        assert typing.get_type_hints(amodule.t2)["s0"] == typing.AsyncIterator[int]
        assert p.dag.steps["m1"].each_mode_deps == ("s0",)
        assert set(p.dag.steps["s0"].consumers) == {"m1", "t2"}
        assert ap.dag.requires_async_runner and not p.dag.requires_async_runner
    finally:
        _forget(module, amodule)


def test_oracle_example():
    """The oracle on a hand-checked spec."""
    spec = Spec(2, (Node("src", "s0", k=1), Node("each", "m1", ("s0",), fail=4),
                    Node("collect", "c2", ("m1", "s0"))))
    values, outputs, errors = oracle(spec)
    assert values["s0"] == [1, 4, 7]
    assert values["m1"] == [2, 14]
    assert outputs == {"c2": ([2, 14], [1, 4, 7])}
    assert errors == [("m1", "m1 rejects 4")]
