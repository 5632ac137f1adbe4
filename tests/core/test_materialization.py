"""Materialization decided at build time (spec 03 §3, 04 §3-§5, 06 §2).

Ours differs from 0.32.4 on purpose: the default in-memory materializer shapes the
collected items per consumer (``ConsumerContract.shape``), so two consumers asking
for ``set`` and ``tuple`` each get what they declared; only a *custom* materializer
(one object for everybody) requires the consumers' types to agree. A pipeline-level
materializer only reaches steps that have consumers.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import pytest

from buildkit import make_fn, raises_definition
from synaflow import OnError, pipeline, step
from synaflow.core.types import ErrorMaterializeContext, MaterializeContext


class P(NamedTuple):
    n: int = 1


def build(*steps, **kw):
    return pipeline(name="mat", params=P, steps=list(steps), **kw)


def src_gen(item=int):
    return make_fn("src", {"n": int}, Iterator[item], kind="gen")


def consumer(name, annotation, ret=int, **kw):
    return step(name, fn=make_fn(name, {"src": annotation}, ret), **kw)


# -- reasons ---------------------------------------------------------------------------
REASONS = [
    ("lazy", lambda: [step("src", fn=src_gen()), consumer("c", Iterator[int])], []),
    ("consumer_type", lambda: [step("src", fn=src_gen()), consumer("c", list[int])],
     ["consumer_requires_materialized_type"]),
    ("union_with_list", lambda: [step("src", fn=src_gen()), consumer("c", list[int] | int)],
     ["consumer_requires_materialized_type"]),
    ("producer_force", lambda: [step("src", fn=src_gen(), force_materialize=True),
                                consumer("c", Iterator[int])],
     ["producer_force_materialize"]),
    ("consumer_force", lambda: [step("src", fn=src_gen()),
                                consumer("c", Iterator[int], force_materialize=True)],
     ["consumer_force_materialize"]),
    ("all_three", lambda: [step("src", fn=src_gen(), force_materialize=True),
                           consumer("c", list[int], force_materialize=True)],
     ["consumer_force_materialize", "consumer_requires_materialized_type",
      "producer_force_materialize"]),
    ("stop_does_not", lambda: [step("src", fn=src_gen(), on_error=OnError.STOP),
                               consumer("c", Iterator[int], on_error=OnError.STOP)], []),
    ("each_consumer_not", lambda: [step("src", fn=src_gen()), consumer("c", int)], []),
]


@pytest.mark.parametrize("steps, reasons", [r[1:] for r in REASONS], ids=[r[0] for r in REASONS])
def test_materialize_reasons(steps, reasons):
    """needs_materialize_reasons: sorted, exported only when the producer is materialized."""
    p = build(*steps())
    d = p.to_dict()["steps"]["src"]
    assert d.get("needs_materialize_reasons", []) == reasons
    assert p.dag.needs_materialize("src") is bool(reasons)
    assert p.dag.steps["c"].materialized_deps == (("src",) if reasons else ())


def test_optional_list_refused():
    """0.32.4 rule kept: ``Optional[list[int]]`` accepts neither a stream nor a list."""
    for producer in (src_gen(), make_fn("src", {"n": int}, list[int])):
        raises_definition(lambda: build(step("src", fn=producer),
                                        consumer("c", list[int] | None)),
                          "expects UnionType[list[int], None]", step="c", param="src")


def test_consumer_force_one_level_only():
    """consumer_force_materialize is one level up, not transitive."""
    a = src_gen()
    b = make_fn("b", {"src": Iterator[int]}, Iterator[int], kind="gen")
    c = make_fn("c", {"b": Iterator[int]}, int)
    dag = build(step("src", fn=a), step("b", fn=b), step("c", fn=c, force_materialize=True)).dag
    assert dag.steps["b"].materialize_reasons == ("consumer_force_materialize",)
    assert dag.steps["src"].materialize_output is False


def test_value_producer_materialized():
    """A value step consumed as list is "materialized" too; no default materializer."""
    a = make_fn("a", {"n": int}, list[int])
    p = build(step("a", fn=a), step("c", fn=make_fn("c", {"a": list[int]}, int)))
    d = p.to_dict()["steps"]["a"]
    assert d["needs_materialize_reasons"] == ["consumer_requires_materialized_type"]
    assert d["materializer"] is None
    assert d["publish_plan"]["strategy"] == "publish_value"
    assert d["materialized_deps"] == []
    assert p.to_dict()["steps"]["c"]["materialized_deps"] == ["a"]


# -- which materializer, which shape -----------------------------------------------------------
PAIR = tuple[str, int]
SHAPES = [
    ("set_then_tuple", int, [set[int], tuple[int, ...]], "set", ["set", "tuple"]),
    ("tuple_then_set", int, [tuple[int, ...], set[int]], "tuple", ["tuple", "set"]),
    ("dict_then_list", PAIR, [dict[str, int], list[PAIR]], "dict", ["dict", "list"]),
    ("list_then_dict", PAIR, [list[PAIR], dict[str, int]], "list", ["list", "dict"]),
    ("list_and_lazy", PAIR, [list[PAIR], Iterator[PAIR]], "list", ["list", "iter"]),
    ("lazy_first", PAIR, [Iterator[PAIR], set[PAIR]], "set", ["iter", "set"]),
    ("item_and_list", PAIR, [str, list[PAIR]], "list", ["items", "list"]),
]


@pytest.mark.parametrize("item, annotations, materializer, shapes", [r[1:] for r in SHAPES],
                         ids=[r[0] for r in SHAPES])
def test_default_shapes(item, annotations, materializer, shapes):
    """The first materializing consumer picks the constructor; each consumer gets its shape."""
    steps = [step("src", fn=src_gen(item))]
    steps += [consumer(f"c{i}", ann) for i, ann in enumerate(annotations)]
    p = build(*steps)
    node = p.dag.steps["src"]
    assert p.to_dict()["steps"]["src"]["materializer"] == materializer
    assert [c.shape for c in node.consumer_contracts] == shapes
    assert [node.shape_for(f"c{i}") for i in range(len(annotations))] == shapes


def test_incompatible_default_ok():
    """Default materializer: list[int] and set[str] consumers of a bare Iterator build.

    0.32.4 crashed here with AttributeError ('DagNode' object has no attribute 'name').
    """
    src = make_fn("src", {"n": int}, Iterator, kind="gen")
    p = build(step("src", fn=src), consumer("b", list[int]), consumer("c", set[str]))
    assert [c.shape for c in p.dag.steps["src"].consumer_contracts] == ["list", "set"]


def test_incompatible_custom_refused():
    """A custom materializer serves one object: disagreeing consumers are refused."""
    src = make_fn("src", {"n": int}, Iterator, kind="gen")
    err = raises_definition(
        lambda: build(step("src", fn=src, materializer=list), consumer("b", list[int]),
                      consumer("c", set[str])),
        "incompatible materialized types", step="src")
    assert "'b'" in str(err) and "'c'" in str(err)


def test_compatible_custom_accepted():
    """A custom materializer with agreeing consumers builds and is used as is."""
    def collect(items):
        return list(items)

    p = build(step("src", fn=src_gen(), materializer=collect), consumer("b", list[int]),
              consumer("c", list[int]))
    assert p.dag.steps["src"].materializer is collect
    assert p.to_dict()["steps"]["src"]["materializer"] == "collect"


def test_each_producer_shapes():
    """An EACH producer has no default materializer; its consumers still get their shape."""
    src = src_gen()
    each = make_fn("each", {"src": int}, int)
    p = build(step("src", fn=src), step("each", fn=each),
              step("c", fn=make_fn("c", {"each": set[int]}, int)))
    node = p.dag.steps["each"]
    assert node.materializer is None and node.materialize_output
    assert node.consumer_contracts[0].shape == "set"


def test_async_default_materializer():
    """Async pipelines resolve the default to ``async_collection``; aiter shape."""
    src = make_fn("src", {"n": int}, AsyncIterator[int], kind="agen")
    lazy = make_fn("lazy", {"src": AsyncIterator[int]}, int, kind="async")
    whole = make_fn("whole", {"src": list[int]}, int, kind="async")
    p = build(step("src", fn=src), step("lazy", fn=lazy), step("whole", fn=whole))
    d = p.to_dict()["steps"]["src"]
    assert d["materializer"] == "async_collection"
    assert [c["shape"] for c in d["consumer_contracts"]] == ["aiter", "list"]


def test_scalar_each_consumer_identity():
    """A stream consumed item by item resolves the default to ``_identity`` (not called)."""
    p = build(step("src", fn=src_gen()), consumer("c", int))
    assert p.to_dict()["steps"]["src"]["materializer"] == "_identity"


# -- pipeline-level and custom materializers -----------------------------------------------------
def test_pipeline_materializer_scope():
    """A pipeline-level materializer reaches steps with consumers, not terminal ones."""
    def keep(items):
        return list(items)

    p = build(step("src", fn=src_gen()), consumer("c", list[int]), materializer=keep)
    assert p.dag.steps["src"].materializer is keep
    assert p.dag.steps["c"].materializer is None


def test_step_materializer_wins():
    """A step-level materializer beats the pipeline-level one."""
    def keep(items):
        return list(items)

    def mine(items):
        return tuple(items)

    p = build(step("src", fn=src_gen(), materializer=mine), consumer("c", list[int]),
              materializer=keep)
    assert p.dag.steps["src"].materializer is mine


def test_instance_materializer_name():
    """A callable instance without ``__name__`` renders by class name (0.32.4 crashed)."""
    class Collector:
        def __call__(self, items):
            return list(items)

    p = build(step("src", fn=src_gen(), materializer=Collector()), consumer("c", list[int]))
    assert p.to_dict()["steps"]["src"]["materializer"] == "Collector"


def test_materializer_factory_context():
    """A factory (``ctx`` parameter) is called once at build time with the consumer type."""
    seen: list[MaterializeContext] = []

    def factory(ctx: MaterializeContext):
        seen.append(ctx)
        return set

    p = build(step("src", fn=src_gen(), materializer=factory), consumer("c", set[int]))
    assert len(seen) == 1
    ctx = seen[0]
    assert (ctx.pipeline_name, ctx.dataset_name) == ("mat", "src")
    assert ctx.consumer_type == set[int] and ctx.is_async_pipeline is False
    assert p.dag.steps["src"].materializer is set
    assert p.to_dict()["steps"]["src"]["materializer"] == "set"


# -- error materializers -----------------------------------------------------------------------
def test_default_error_materializer():
    """Every step resolves the default log factory to ``log_error``."""
    d = build(step("src", fn=src_gen()), consumer("c", list[int])).to_dict()
    assert d["error_materializer"] == "log_error_materializer"
    assert {s["error_materializer"] for s in d["steps"].values()} == {"log_error"}


def test_pipeline_error_materializer():
    """A pipeline-level error materializer shows its plain name at the top and per step."""
    def record(err) -> None:
        return None

    def special(err) -> None:
        return None

    d = build(step("src", fn=src_gen()), consumer("c", list[int], error_materializer=special),
              error_materializer=record).to_dict()
    assert d["error_materializer"] == "record"
    assert d["steps"]["src"]["error_materializer"] == "record"
    assert d["steps"]["c"]["error_materializer"] == "special"


def test_error_materializer_factory():
    """An error materializer factory gets an ErrorMaterializeContext per step."""
    seen: list[ErrorMaterializeContext] = []

    def factory(ctx: ErrorMaterializeContext):
        seen.append(ctx)
        return print

    build(step("src", fn=src_gen()), consumer("c", list[int]), error_materializer=factory)
    assert [(c.pipeline_name, c.dataset_name) for c in seen] == [("mat", "src"), ("mat", "c")]


def test_force_materialize_terminal_stream():
    """force_materialize allows a terminal stream; it is published as a value."""
    d = build(step("src", fn=src_gen(), force_materialize=True)).to_dict()["steps"]["src"]
    assert d["needs_materialize_reasons"] == ["producer_force_materialize"]
    assert d["force_materialize"] is True
    assert d["publish_plan"]["strategy"] == "publish_value"
