"""Modes and the compiled execution plan (spec 03 §1, §4, §5; 04 §5 derivations).

Covers each_mode_deps, mode resolution, EACH output types, hidden steps,
max_in_flight, and how output_contract, consumer_contracts, publish_plan,
fn_kind, async_stream_deps and the runner flags are derived.
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import pytest

from buildkit import example, make_fn, raises_definition
from synaflow import StepMode, pipeline, step
from synaflow.core.type_compatibility import ListType

NoneType = type(None)


class P(NamedTuple):
    n: int = 1
    ids: list[int] = [1, 2]
    tags: dict[str, int] = {}


def build(*steps, **kw):
    return pipeline(name="m", params=P, steps=list(steps), **kw)


def gen(name, params, item=int):
    return make_fn(name, params, Iterator[item], kind="gen")


def agen(name, params, item=int):
    return make_fn(name, params, AsyncIterator[item], kind="agen")


# -- §1.1 each_mode_deps ---------------------------------------------------------------
def test_each_deps_signature_order():
    """Several unrolled dependencies, in parameter order; scalar deps stay whole."""
    a = gen("a", {"n": int})
    use = make_fn("use", {"n": int, "a": int, "ids": int}, str)
    node = build(step("a", fn=a), step("use", fn=use)).dag.steps["use"]
    assert node.each_mode_deps == ("a", "ids")
    assert node.mode is StepMode.EACH


def test_params_field_can_unroll():
    """A params field of an iterable type feeds a scalar parameter item by item."""
    use = make_fn("use", {"id": int}, int)
    dag = build(step("use", fn=use)).dag
    assert dag.steps["use"].each_mode_deps == ("ids",)
    assert dag.each_inputs("use") == ["ids"]
    assert dict(dag.steps["use"].dataset_param_names) == {"ids": "id"}


def test_dict_param_unrolls_keys():
    """A ``dict`` producer feeding a scalar parameter is EACH (over its keys)."""
    use = make_fn("use", {"tags": str}, int)
    assert build(step("use", fn=use)).dag.steps["use"].each_mode_deps == ("tags",)


def test_unknown_producer_not_each():
    """A producer of unknown type (unannotated return) never makes a consumer EACH."""
    a = make_fn("a", {"n": int})
    use = make_fn("use", {"a": int}, int)
    assert build(step("a", fn=a), step("use", fn=use)).dag.steps["use"].mode is StepMode.ALL


# -- §1.2 mode resolution ----------------------------------------------------------------
MODE_TABLE = [
    # requested, consumer annotation of a stream dep, resolved mode / error fragment
    (StepMode.AUTO, int, "each"),
    (StepMode.AUTO, Iterator[int], "all"),
    (StepMode.EACH, int, "each"),
    (StepMode.EACH, Iterator[int], "forced to EACH mode"),
    (StepMode.ALL, Iterator[int], "all"),
    (StepMode.ALL, int, "forced to ALL mode"),
]


@pytest.mark.parametrize("requested, declared, outcome", MODE_TABLE,
                         ids=[f"{r.value}-{'item' if d is int else 'stream'}"
                              for r, d, _ in MODE_TABLE])
def test_mode_resolution(requested, declared, outcome):
    """AUTO follows each_mode_deps; forced modes are checked against them."""
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": declared}, int)
    build_it = lambda: build(step("src", fn=src),  # noqa: E731
                             step("use", fn=use, mode=requested))
    if outcome in ("each", "all"):
        assert build_it().dag.steps["use"].mode.value == outcome
    else:
        raises_definition(build_it, outcome, step="use")


def test_forced_all_lists_deps():
    """The forced-ALL message lists the dependencies that need EACH."""
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": int, "ids": int}, int)
    err = raises_definition(lambda: build(step("src", fn=src),
                                          step("use", fn=use, mode=StepMode.ALL)),
                            "forced to ALL mode")
    assert "'src'" in str(err) and "'ids'" in str(err)


def test_compiled_modes_are_each_or_all():
    """A compiled node never holds AUTO."""
    for module in ("weather", "words", "report", "nested", "fanout"):
        for node in example(module).dag.values():
            assert node.mode in (StepMode.EACH, StepMode.ALL)


# -- §1.3 EACH output type ---------------------------------------------------------------
EACH_OUTPUT = [
    (float, ListType(float), "ListType(float)"),
    (list[int], ListType(list[int]), "ListType(list[int])"),
    (NoneType, None, "None"),
    (None, None, "None"),
]


@pytest.mark.parametrize("ret, compiled, rendered", EACH_OUTPUT,
                         ids=["float", "list", "none", "unannotated"])
def test_each_output_type(ret, compiled, rendered):
    """EACH output is ListType(return); ``-> None``/unannotated stay None."""
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": int}, *(() if ret is None else (ret,)))
    p = build(step("src", fn=src), step("use", fn=use))
    assert p.dag.steps["use"].output == compiled
    assert p.to_dict()["steps"]["use"]["output"] == rendered


@pytest.mark.parametrize("ret", [Iterator[int], AsyncIterator[int]], ids=["sync", "async"])
def test_each_cannot_return_stream(ret):
    """An EACH step annotated to return a stream is refused (no nested streams)."""
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": int}, ret)
    drain = make_fn("drain", {"use": Iterator[int]}, int)
    raises_definition(lambda: build(step("src", fn=src), step("use", fn=use),
                                    step("drain", fn=drain)),
                      "Each-mode steps cannot return stream-like outputs", step="use")


# -- §4 hidden steps -------------------------------------------------------------------
def test_hidden_stream_step_drained():
    """A hidden step is terminal; a hidden stream is drained, never refused."""
    hidden = gen("_tap", {"n": int})
    dag = build(step("_tap", fn=hidden)).dag
    assert dag.is_terminal_step("_tap")
    assert dag.steps["_tap"].output_contract.drain_policy == "terminal"
    assert dag.should_drain_deferred_step("_tap")


# -- §5 max_in_flight ------------------------------------------------------------------
@pytest.mark.parametrize("value", [1, 2, 64])
def test_max_in_flight_copied(value):
    """max_in_flight is copied into the node and the publish plan, even for values."""
    one = make_fn("one", {"n": int}, int)
    p = build(step("one", fn=one, max_in_flight=value))
    assert p.dag.steps["one"].max_in_flight == value
    d = p.to_dict()["steps"]["one"]
    assert d["max_in_flight"] == d["publish_plan"]["max_in_flight"] == value


# -- 04 §5 derivations -------------------------------------------------------------------
def _plan(p, name):
    d = p.to_dict()["steps"][name]
    return (d["output_contract"]["runtime_kind"], d["output_contract"]["completion_policy"],
            d["output_contract"]["drain_policy"], d["publish_plan"]["strategy"],
            d["publish_plan"]["handoff"])


def _plans():
    """(id, builder, step, expected plan) rows; builders so each test builds fresh."""
    sync_item = lambda: make_fn("each_use", {"src": int}, int)  # noqa: E731
    lazy = lambda name="lazy", dep="src": make_fn(name, {dep: Iterator[int]}, int)  # noqa: E731
    return [
        ("value", lambda: build(step("v", fn=make_fn("v", {"n": int}, int))), "v",
         ("value", "immediate", "none", "publish_value", "none")),
        ("terminal_forced", lambda: build(step("src", fn=gen("src", {"n": int}),
                                               force_materialize=True)), "src",
         ("sync_stream", "on_exhaustion", "terminal", "publish_value", "none")),
        ("terminal_exported", lambda: build(step("src", fn=gen("src", {"n": int})),
                                            exports="src"), "src",
         ("sync_stream", "on_exhaustion", "terminal", "publish_value", "none")),
        ("barrier_only", lambda: build(step("src", fn=gen("src", {"n": int})),
                                       step("use", fn=make_fn("use", ["src"], int))), "src",
         ("sync_stream", "on_exhaustion", "barrier_only", "publish_value", "none")),
        ("materialized", lambda: build(step("src", fn=gen("src", {"n": int})),
                                       step("use", fn=make_fn("use", {"src": list[int]},
                                                              int))), "src",
         ("sync_stream", "on_exhaustion", "none", "publish_materialized", "none")),
        ("single_lazy", lambda: build(step("src", fn=gen("src", {"n": int})),
                                      step("lazy", fn=lazy())), "src",
         ("sync_stream", "on_exhaustion", "none", "publish_stream", "none")),
        ("bounded", lambda: build(step("src", fn=gen("src", {"n": int}), max_in_flight=4),
                                  step("lazy", fn=lazy())), "src",
         ("sync_stream", "on_exhaustion", "none", "publish_stream", "bounded_iterator")),
        ("sync_fanout", lambda: build(step("src", fn=gen("src", {"n": int})),
                                      step("lazy", fn=lazy()),
                                      step("each_use", fn=sync_item())), "src",
         ("sync_stream", "on_exhaustion", "none", "publish_sync_fanout", "sync_fanout")),
        ("each_lazy_out", lambda: build(step("src", fn=gen("src", {"n": int})),
                                        step("each_use", fn=sync_item()),
                                        step("lazy", fn=lazy(dep="each_use"))), "each_use",
         ("sync_stream", "on_exhaustion", "none", "publish_stream", "none")),
        ("each_terminal", lambda: build(step("src", fn=gen("src", {"n": int})),
                                        step("each_use", fn=sync_item())), "each_use",
         ("sync_stream", "on_exhaustion", "terminal", "publish_value", "none")),
        ("each_over_list", lambda: build(step("each_use",
                                              fn=make_fn("each_use", {"id": int}, int))),
         "each_use", ("sync_stream", "on_exhaustion", "terminal", "publish_value", "none")),
        ("async_single", lambda: build(
            step("src", fn=agen("src", {"n": int})),
            step("use", fn=make_fn("use", {"src": AsyncIterator[int]}, int, kind="async"))),
         "src", ("async_stream", "on_exhaustion", "none", "publish_async_fanout",
                 "async_queue")),
        ("async_each", lambda: build(
            step("src", fn=agen("src", {"n": int})),
            step("each_use", fn=make_fn("each_use", {"src": int}, int, kind="async")),
            step("use", fn=make_fn("use", {"each_use": AsyncIterator[int]}, int,
                                   kind="async"))),
         "each_use", ("async_stream", "on_exhaustion", "none", "publish_async_fanout",
                      "async_queue")),
    ]


PLANS = _plans()


@pytest.mark.parametrize("builder, name, expected", [r[1:] for r in PLANS],
                         ids=[r[0] for r in PLANS])
def test_output_and_publish_plan(builder, name, expected):
    """output_contract and publish_plan follow the first-match rules of 04 §5."""
    assert _plan(builder(), name) == expected


CONSUMPTION = [
    ("item", {"src": int}, "items"),
    ("materialized", {"src": list[int]}, "list"),
    ("materialized", {"src": set[int]}, "set"),
    ("materialized", {"src": tuple[int, ...]}, "tuple"),
    ("stream", {"src": Iterator[int]}, "iter"),
    ("barrier_only", {"src": None}, "list"),
]


@pytest.mark.parametrize("consumption, params, shape", CONSUMPTION,
                         ids=[f"{c}-{s}" for c, _, s in CONSUMPTION])
def test_consumption(consumption, params, shape):
    """consumer_contracts: item / materialized / stream / barrier_only, plus our shape."""
    src = gen("src", {"n": int})
    use = make_fn("use", params, int)
    d = build(step("src", fn=src), step("use", fn=use)).to_dict()["steps"]["src"]
    assert d["consumer_contracts"] == [
        {"consumer_name": "use", "consumption": consumption, "shape": shape}]


def test_each_consumer_is_item_for_all():
    """An EACH consumer's contract is "item" even for a producer it takes whole."""
    a = make_fn("a", {"n": int}, list[int])
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": int, "a": list[int]}, int)
    d = build(step("a", fn=a), step("src", fn=src), step("use", fn=use)).to_dict()["steps"]
    assert d["a"]["consumer_contracts"][0]["consumption"] == "item"
    assert d["src"]["consumer_contracts"][0]["consumption"] == "item"


def test_consumers_in_declaration_order():
    """consumer_contracts and ``consumers_of`` keep consumer declaration order."""
    src = gen("src", {"n": int})
    steps = [step("src", fn=src)] + [
        step(name, fn=make_fn(name, {"src": Iterator[int]}, int))
        for name in ("zulu", "alpha", "mike")]
    dag = build(*steps).dag
    assert dag.consumers_of("src") == ["zulu", "alpha", "mike"]
    assert [c.consumer_name for c in dag.steps["src"].consumer_contracts] == [
        "zulu", "alpha", "mike"]
    assert dag.output_key("src", "alpha") == "src__alpha"
    assert dag.output_key("zulu", "x") == "zulu"


FN_KINDS = [
    ("sync", "sync"), ("gen", "sync_generator"), ("async", "async"),
    ("agen", "async_generator"),
]


@pytest.mark.parametrize("kind, fn_kind", FN_KINDS, ids=[k for _, k in FN_KINDS])
def test_fn_kind(kind, fn_kind):
    """fn_kind comes from the function object (async generators are called, not awaited)."""
    ret = {"sync": int, "gen": Iterator[int], "async": int, "agen": AsyncIterator[int]}[kind]
    f = make_fn("f", {"n": int}, ret, kind=kind)
    p = build(step("f", fn=f, force_materialize=True))
    assert p.dag.steps["f"].fn_kind == fn_kind
    assert p.to_dict()["steps"]["f"]["fn_kind"] == fn_kind


def test_fn_kind_through_partial():
    """A partial of a generator function is still a generator step."""
    def numbers(k: int, n: int) -> Iterator[int]:
        yield from range(k, n)

    dag = build(step("numbers", fn=functools.partial(numbers, 0),
                     force_materialize=True)).dag
    assert dag.steps["numbers"].fn_kind == "sync_generator"


def test_async_stream_deps():
    """Parameters declared AsyncIterator/AsyncGenerator are listed (materialized too)."""
    src = agen("src", {"n": int})
    lazy = make_fn("lazy", {"src": AsyncIterator[int]}, int, kind="async")
    whole = make_fn("whole", {"src": list[int]}, int, kind="async")
    p = build(step("src", fn=src), step("lazy", fn=lazy), step("whole", fn=whole))
    d = p.to_dict()["steps"]
    assert d["lazy"]["async_stream_deps"] == ["src"]
    assert "async_stream_deps" not in d["whole"]
    assert d["src"]["materializer"] == "async_collection"


RUNNER_FLAGS = [
    ("plain", lambda: [step("v", fn=make_fn("v", {"n": int}, int))], (False, False)),
    ("sync_stream", lambda: [step("s", fn=gen("s", {"n": int}), force_materialize=True)],
     (True, False)),
    ("sync_param", lambda: [step("v", fn=make_fn("v", {"ids": Iterator[int]}, int))],
     (True, False)),
    ("async_fn", lambda: [step("v", fn=make_fn("v", {"n": int}, int, kind="async"))],
     (False, True)),
    ("async_stream", lambda: [step("s", fn=agen("s", {"n": int}), force_materialize=True)],
     (False, True)),
]


@pytest.mark.parametrize("steps, flags", [r[1:] for r in RUNNER_FLAGS],
                         ids=[r[0] for r in RUNNER_FLAGS])
def test_runner_flags(steps, flags):
    """requires_sync_runner / requires_async_runner from types and function kinds."""
    p = build(*steps())
    assert (p.dag.requires_sync_runner, p.dag.requires_async_runner) == flags
    d = p.to_dict()
    assert (d["requires_sync_runner"], d["requires_async_runner"]) == flags


def test_sync_and_async_mix_refused():
    """A sync ``Iterator`` dependency in an async pipeline is UNRUNNABLE."""
    f = make_fn("f", {"ids": Iterator[int]}, int, kind="async")
    raises_definition(lambda: build(step("f", fn=f)), "is UNRUNNABLE")


def test_threshold_needs_each():
    """Thresholds only on EACH steps; copied and exported when set."""
    use = make_fn("use", {"id": int}, int)
    p = build(step("use", fn=use, error_threshold_absolute=2, error_threshold_pct=0.25))
    d = p.to_dict()["steps"]["use"]
    assert (d["error_threshold_absolute"], d["error_threshold_pct"]) == (2, 0.25)
    plain = build(step("use", fn=use)).to_dict()["steps"]["use"]
    assert "error_threshold_absolute" not in plain and "error_threshold_pct" not in plain


class Db:
    pass


def open_db() -> Db:
    return Db()


def test_dag_mapping_helpers():
    """``get`` returns synthetic nodes for params and resources; steps behave as a mapping."""
    use = make_fn("use", {"n": int, "db": Db}, int)
    dag = build(step("use", fn=use), resources={"db": open_db}).dag
    assert dag.get("n").output is int
    assert dag.get("db").output is Db
    assert dag.get("nope", "dflt") == "dflt"
    assert "use" in dag and len(dag) == 1 and list(dag) == ["use"]
    assert dag["use"] is dag.steps["use"]
    assert dag["use"]["mode"] is StepMode.ALL and dag["use"].get("nope", 3) == 3
    assert dag.step_dependencies("use") == []
    assert not dag.needs_materialize("use")


def test_any_consumer_is_each():
    """``Any`` is a scalar: an ``Any`` parameter fed by a stream is EACH."""
    src = gen("src", {"n": int})
    use = make_fn("use", {"src": Any}, int)
    assert build(step("src", fn=src), step("use", fn=use)).dag.steps["use"].mode \
        is StepMode.EACH


def test_observer_lists():
    """Effective observers: pipeline-level first (source "pipeline"), then the step's."""
    from synaflow import Observer

    def seen(ctx) -> None:
        return None

    def mine(ctx) -> None:
        return None

    one = make_fn("one", {"n": int}, int)
    two = make_fn("two", {"n": int}, int)
    p = build(step("one", fn=one, observers=[Observer(mine)]), step("two", fn=two),
              observers=[Observer(seen)])
    d = p.to_dict()
    assert d["pipeline_observers"] == [
        {"handler_name": "seen", "source": "pipeline"}]
    assert [(o["handler_name"], o["source"]) for o in d["steps"]["one"]["observers"]] == [
        ("seen", "pipeline"), ("mine", "step")]
    assert [o.source for o in p.dag.steps["two"].observers] == ["pipeline"]
    assert [o.handler for o in p.dag.pipeline_observers] == [seen]


def test_ray_options_recorded():
    """Valid ``ray={...}`` options are kept in the node and the contract (classes by name)."""
    one = make_fn("one", {"n": int}, int)
    options = {"num_cpus": 2, "num_gpus": 0.5, "max_retries": -1,
               "retry_exceptions": [ValueError], "scheduling_strategy": "SPREAD",
               "batch_size": "auto", "resources": {"ssd": 1}}
    p = build(step("one", fn=one, ray=options))
    recorded = p.to_dict()["steps"]["one"]["ray_options"]
    assert recorded["retry_exceptions"] == ["builtins.ValueError"]
    assert {k: v for k, v in recorded.items() if k != "retry_exceptions"} == {
        k: v for k, v in options.items() if k != "retry_exceptions"}
    assert "ray_options" not in build(step("one", fn=one)).to_dict()["steps"]["one"]
