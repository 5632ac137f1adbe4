"""include() expansion (spec 07 §4, 04 §6) and ``Scope`` keys.

Deliberate differences from 0.32.4: an inner step may depend on the exported
step; async generator steps inside includes stay async generators; the
``pipeline``/``parent_pipeline`` of an included step are the pipeline that
declares it and the pipeline that includes that one; a sub-pipeline's own
pipeline-level observers are listed with source ``"subpipeline"``.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import pytest

from buildkit import example, make_fn
from synaflow import Observer, OnError, Scope, StepMode, include, pipeline, step


class Sub(NamedTuple):
    v: int


class Root(NamedTuple):
    n: int = 2


class Db:
    pass


def open_db() -> Db:
    return Db()


def to_sub(n: int) -> Sub:
    return Sub(v=n)


def first(v: int, db: Db) -> int:
    return v


def second(first: int, v: int) -> float:
    return first / v


def after(second: float) -> str:
    return str(second)


def watch(ctx) -> None:
    return None


def root_watch(ctx) -> None:
    return None


def keep(items):
    return list(items)


def sub_pipeline(**kw):
    return pipeline(name="sub", params=Sub, resources={"db": open_db}, observers=[
        Observer(watch)], steps=[step("first", fn=first, max_in_flight=3),
                                 step("second", fn=second, on_error=OnError.STOP),
                                 step("after", fn=after)],
                    exports="second", **kw)


def root_pipeline(sub=None, **kw):
    def use(inc: float) -> float:
        return inc

    return pipeline(name="root", params=Root, observers=[Observer(root_watch)], steps=[
        include("inc", fn=to_sub, pipeline=sub or sub_pipeline()), step("use", fn=use)],
        **kw)


def test_step_keys_and_order():
    """Adapter first, inner steps renamed ``inc__x``, the exported one becomes ``inc``."""
    dag = root_pipeline().dag
    assert list(dag.steps) == ["inc__adapter", "inc__first", "inc", "inc__after", "use"]
    assert Scope("inc")("first") == "inc__first"
    assert dag.steps["inc"].fn.__name__ == "second"


def test_adapter_node():
    """The adapter is wired in the parent, forced to on_error=STOP, flagged in JSON."""
    p = root_pipeline()
    node = p.dag.steps["inc__adapter"]
    assert node.on_error is OnError.STOP and node.is_adapter
    assert dict(node.deps) == {"n": int} and node.output is Sub
    d = p.to_dict()["steps"]["inc__adapter"]
    assert (d["pipeline"], d["parent_pipeline"], d["pipeline_scope"]) == ("root", None, "root")
    assert d["is_adapter"] is True and d["on_error"] == "stop"


def test_inner_params_read_adapter():
    """Sub-params fields are read from the adapter's value (typed as the params class)."""
    p = root_pipeline()
    node = p.dag.steps["inc__first"]
    assert dict(node.deps) == {"inc__adapter": Sub, "db": Db}
    b = node.bindings[0]
    assert (b.param, b.producer, b.attr) == ("v", "inc__adapter", "v")
    d = p.to_dict()["steps"]["inc__first"]
    assert d["deps"] == {"inc__adapter": "Sub", "db": "Db"}
    assert d["bindings"][0] == {"param": "v", "producer": "inc__adapter", "attr": "v",
                                "declared_type_ref": {"ref": f"{__name__}:Sub"}}
    assert "dataset_param_names" not in d  # attr bindings are not renamings


def test_inner_deps_prefixed():
    """Other inner dependencies are renamed with the include prefix."""
    dag = root_pipeline().dag
    assert list(dag.steps["inc"].deps) == ["inc__first", "inc__adapter"]
    assert dict(dag.steps["inc"].dataset_param_names) == {"inc__first": "first"}
    assert list(dag.steps["use"].deps) == ["inc"]


def test_inner_step_reads_export():
    """An inner step may depend on the exported step (0.32.4: missing 'inc__second')."""
    dag = root_pipeline().dag
    assert list(dag.steps["inc__after"].deps) == ["inc"]
    assert dag.get_execution_levels() == [["inc__adapter"], ["inc__first"], ["inc"],
                                          ["inc__after", "use"]]


def test_resources_lifted():
    """Sub resources keep their name and are lifted into the parent."""
    p = root_pipeline()
    assert dict(p.dag.resource_factories) == {"db": open_db}
    assert p.to_dict()["resources"] == {"db": "Db"}


def test_same_resource_object_ok():
    """Root and include may declare the same resource name with the same factory."""
    def use(inc: float, db: Db) -> float:
        return inc

    p = pipeline(name="root", params=Root, resources={"db": open_db}, steps=[
        include("inc", fn=to_sub, pipeline=sub_pipeline()), step("use", fn=use)])
    assert list(p.dag.resource_factories) == ["db"]


def test_settings_copied():
    """on_error, max_in_flight, mode, thresholds travel with the inner steps."""
    dag = root_pipeline().dag
    assert dag.steps["inc__first"].max_in_flight == 3
    assert dag.steps["inc"].on_error is OnError.STOP
    assert dag.steps["inc__after"].on_error is OnError.CONTINUE


def test_sub_materializers_inherited():
    """An inner step takes its own materializer, else the sub-pipeline's."""
    def numbers(v: int) -> Iterator[int]:
        yield from range(v)

    def total(numbers: list[int]) -> int:
        return sum(numbers)

    def record(err) -> None:
        return None

    sub = pipeline(name="sub", params=Sub, materializer=keep, error_materializer=record,
                   steps=[step("numbers", fn=numbers), step("total", fn=total)],
                   exports="total")

    def use(inc: int) -> int:
        return inc

    dag = pipeline(name="root", params=Root, steps=[
        include("inc", fn=to_sub, pipeline=sub), step("use", fn=use)]).dag
    assert dag.steps["inc__numbers"].materializer is keep
    assert dag.steps["inc"].error_materializer is record
    assert dag.steps["use"].error_materializer.__name__ == "log_error"


def test_observer_sources():
    """Root pipeline observers first, then the sub's (source "subpipeline")."""
    d = root_pipeline().to_dict()["steps"]
    assert [(o["handler_name"], o["source"]) for o in d["inc__first"]["observers"]] == [
        ("root_watch", "pipeline"), ("watch", "subpipeline")]
    assert [(o["handler_name"], o["source"]) for o in d["use"]["observers"]] == [
        ("root_watch", "pipeline")]


def test_included_twice():
    """One sub-pipeline included under two names gives two independent step sets."""
    def both(a: float, b: float) -> float:
        return a + b

    sub = sub_pipeline()
    dag = pipeline(name="root", params=Root, steps=[
        include("a", fn=to_sub, pipeline=sub), include("b", fn=to_sub, pipeline=sub),
        step("both", fn=both)]).dag
    assert [k for k in dag.steps if k.startswith("b")][:2] == ["b__adapter", "b__first"]
    assert list(dag.steps["both"].deps) == ["a", "b"]
    assert dict(dag.scope_step_totals) == {"root": 3, "root__a": 3, "root__b": 3}


def test_iterable_adapter_each():
    """An adapter returning ``Iterator[Sub]`` makes params-reading inner steps EACH."""
    def to_subs(n: int) -> Iterator[Sub]:
        for i in range(n):
            yield Sub(v=i)

    def double(v: int) -> int:
        return 2 * v

    sub = pipeline(name="sub", params=Sub, steps=[step("double", fn=double)],
                   exports="double")

    def collect(inc: list[int]) -> int:
        return sum(inc)

    dag = pipeline(name="root", params=Root, steps=[
        include("inc", fn=to_subs, pipeline=sub), step("collect", fn=collect)]).dag
    assert dag.steps["inc"].mode is StepMode.EACH
    assert dag.steps["inc"].each_mode_deps == ("inc__adapter",)


def test_async_generator_inside():
    """Async generator steps in an included pipeline stay async generators."""
    async def stream(v: int) -> AsyncIterator[int]:
        for i in range(v):
            yield i

    async def total(stream: AsyncIterator[int]) -> int:
        return 0

    sub = pipeline(name="asub", params=Sub, steps=[step("stream", fn=stream),
                                                   step("total", fn=total)],
                   exports="total")

    async def to_asub(n: int) -> Sub:
        return Sub(v=n)

    async def use(inc: int) -> int:
        return inc

    dag = pipeline(name="aroot", params=Root, steps=[
        include("inc", fn=to_asub, pipeline=sub), step("use", fn=use)]).dag
    assert dag.steps["inc__stream"].fn_kind == "async_generator"
    assert dag.requires_async_runner
    assert dag.steps["inc"].async_stream_deps == ("inc__stream",)


# -- three nested levels (tests/examples_build/nested.py) -------------------------------------
NESTED = [
    # key, pipeline, parent_pipeline, scope, index in scope, scope total
    ("i1__adapter", "root", None, "root", 0, 2),
    ("i1__i2__adapter", "lvl1", "root", "root__i1", 0, 2),
    ("i1__i2__pre2", "lvl2", "lvl1", "root__i1__i2", 0, 2),
    ("i1__i2__i3__adapter", "lvl2", "lvl1", "root__i1__i2", 1, 2),
    ("i1__i2", "lvl3", "lvl2", "root__i1__i2__i3", 0, 1),
    ("i1", "lvl1", "root", "root__i1", 1, 2),
    ("final", "root", None, "root", 1, 2),
]


@pytest.mark.parametrize("key, owner, parent, scope, index, total", NESTED,
                         ids=[r[0] for r in NESTED])
def test_nested_scopes(key, owner, parent, scope, index, total):
    """Scope ids keep the nesting path; pipeline/parent_pipeline name the owner and includer."""
    node = example("nested").dag.steps[key]
    assert (node.pipeline, node.parent_pipeline, node.pipeline_scope) == (owner, parent, scope)
    assert (node.step_index_in_scope, node.step_total_in_scope) == (index, total)


def test_nested_totals_and_keys():
    """scope_step_totals in first-appearance order; keys follow ``Scope``."""
    dag = example("nested").dag
    assert list(dag.scope_step_totals.items()) == [
        ("root", 2), ("root__i1", 2), ("root__i1__i2", 2), ("root__i1__i2__i3", 1)]
    assert sum(dag.scope_step_totals.values()) == len(dag)
    assert Scope("i1").scope("i2")("pre2") in dag
    assert Scope("i1", "i2", "i3")("adapter") in dag
    assert str(Scope("root", "i1", "i2")) == dag.steps["i1__i2__pre2"].pipeline_scope
    # the leaf of lvl3 is exported up to lvl2 as 'i3', to lvl1 as 'i2', to root as 'i1'...
    assert dag.steps["i1__i2"].fn.__name__ == "leaf"
    # ...but lvl1 exports its own step post1, which reads the exported i2
    assert dag.steps["i1"].fn.__name__ == "post1"
    assert list(dag.steps["i1"].deps) == ["i1__i2", "i1__adapter"]


def test_report_example_levels():
    """Spec 04 §8.3: the include example compiles to the documented levels."""
    dag = example("report").dag
    assert dag.get_execution_levels() == [["dispersion__adapter", "labels"],
                                          ["dispersion__mean"], ["dispersion"], ["index"]]
    assert dict(dag.scope_step_totals) == {"report": 3, "report__dispersion": 2}


def test_sub_compiled_standalone():
    """The included pipeline is a valid pipeline on its own (it compiled when created)."""
    sub = sub_pipeline()
    assert list(sub.dag.steps) == ["first", "second", "after"]
    assert sub.dag.exports == "second"
    root_pipeline(sub=sub)
    assert list(sub.dag.steps) == ["first", "second", "after"]  # unchanged by inclusion


def test_adapter_params_by_name():
    """The adapter's own parameters bind in the parent like any step's."""
    adapter = make_fn("adapter", {"n": int}, Sub)
    p = pipeline(name="root", params=Root, steps=[
        include("inc", fn=adapter, pipeline=sub_pipeline())])
    assert list(p.dag.steps["inc__adapter"].deps) == ["n"]


class LabelParams(NamedTuple):
    n: int = 3


def label_double(n: int) -> int:
    return 2 * n


def test_exports_label_at_top_level_runs_and_round_trips():
    """A top-level ``exports`` naming no step is a label: the pipeline builds, runs as
    without it, and the contract keeps the label (issue 22, item 1)."""
    from synaflow import Dag, run

    p = pipeline(name="labelled", params=LabelParams, exports="status/loaded.json",
                 steps=[step("double", fn=label_double)])
    assert p.dag.exports == "status/loaded.json"
    assert run(p, LabelParams()).outputs == {"double": 6}
    assert p.to_dict()["exports"] == "status/loaded.json"
    assert Dag.from_dict(p.to_dict()).to_dict() == p.to_dict()
