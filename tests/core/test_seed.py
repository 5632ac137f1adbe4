"""Everything the "Build-Time & Run-Time Separation" page promises (seed/build-vs-run.md).

The page's example pipeline (producer -> transformer -> consumer) is rebuilt here;
a twenty-line custom runner executes the compiled ``Dag`` without any SynaFlow
engine, which is the page's claim that the Dag is self-contained.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from buildkit import raises_definition
from synaflow import StepMode, pipeline, step
from synaflow.core.dag import Dag, DagNode
from synaflow.core.exceptions import PipelineDefinitionError


class Params(NamedTuple):
    count: int


def producer(count: int) -> Iterator[int]:
    yield from range(count)


def transformer(producer: int) -> int:
    return producer * 2


def consumer(transformer: list[int]) -> int:
    return sum(transformer)


def example() -> Any:
    return pipeline(name="example", params=Params, steps=[
        step("producer", fn=producer),
        step("transformer", fn=transformer),
        step("consumer", fn=consumer),
    ])


class MyRunner:
    """The page's custom runner, completed: levels -> nodes -> ``node.fn(**kwargs)``.

    Values only: streams are collected into lists; an EACH node is called once per
    row of its ``each_mode_deps`` (zip-longest, ``None`` padding, spec 03 §1.4).
    """

    def execute(self, dag: Dag, params: Any) -> dict[str, Any]:
        values: dict[str, Any] = dict(params._asdict())
        for level in dag.get_execution_levels():
            for step_name in level:
                node = dag.steps[step_name]
                values[step_name] = self._call(node, values)
        return values

    def _call(self, node: DagNode, values: dict[str, Any]) -> Any:
        def arg(binding, row):
            value = row.get(binding.producer, values[binding.producer])
            return getattr(value, binding.attr) if binding.attr else value

        if node.mode is StepMode.EACH:
            columns = [values[d] for d in node.each_mode_deps]
            rows = [dict(zip(node.each_mode_deps, r))
                    for r in itertools.zip_longest(*columns)]
            return [node.fn(**{b.param: arg(b, row) for b in node.bindings}) for row in rows]
        out = node.fn(**{b.param: arg(b, {}) for b in node.bindings})
        return list(out) if isinstance(out, Iterator) else out


def test_pipeline_has_dag():
    """``pipeline(...).dag`` is the compiled ``Dag``; ``to_dict()`` is its contract."""
    p = example()
    assert isinstance(p.dag, Dag)
    assert p.to_dict() == p.dag.to_dict()
    assert p.dag is p.dag  # compiled once, at construction


def test_dag_assertions_of_the_page():
    """The two assertions the page shows, verbatim."""
    dag = example().dag
    assert dag.steps["transformer"].mode == StepMode.EACH
    assert dag.get_execution_levels() == [["producer"], ["transformer"], ["consumer"]]


def test_seed_json_keys_and_values():
    """The per-step keys the page prints exist, with the page's values."""
    d = example().to_dict()
    assert d["name"] == "example"
    assert d["params"] == {"count": "int"}
    prod = d["steps"]["producer"]
    for key in ("deps", "output", "fn", "mode", "on_error", "max_in_flight",
                "materializer", "materialized_deps", "each_mode_deps"):
        assert key in prod, key
    assert prod["deps"] == {"count": "int"}
    assert prod["output"] == "Stream[int]"
    assert (prod["fn"], prod["mode"], prod["on_error"]) == ("producer", "all", "continue")
    assert prod["max_in_flight"] == 1
    assert prod["materialized_deps"] == [] and prod["each_mode_deps"] == []
    assert d["steps"]["transformer"]["each_mode_deps"] == ["producer"]
    assert d["steps"]["consumer"]["materialized_deps"] == ["transformer"]


def test_json_is_serializable():
    """The contract is plain JSON: dumps and loads back to the same dict."""
    d = example().to_dict()
    assert json.loads(json.dumps(d)) == d


def test_custom_runner_runs_the_dag():
    """A runner written against the Dag alone computes the right result."""
    out = MyRunner().execute(example().dag, Params(count=4))
    assert out["transformer"] == [0, 2, 4, 6]
    assert out["consumer"] == 12


def test_custom_runner_from_json():
    """The JSON contract alone (re-loaded) is enough for the same runner."""
    dag = Dag.from_dict(json.dumps(example().to_dict()))
    assert MyRunner().execute(dag, Params(count=3))["consumer"] == 6


def test_semantic_decisions_are_frozen():
    """mode, max_in_flight, each_mode_deps, materialized_deps are decided at build time."""
    node = example().dag.steps["transformer"]
    assert node.mode is StepMode.EACH
    assert node.each_mode_deps == ("producer",)
    assert node.materialize_output is True
    assert example().dag.steps["consumer"].materialized_deps == ("transformer",)


def test_validation_at_pipeline_call():
    """A broken pipeline raises at ``pipeline(...)``, not later at run time."""
    def bad_consumer(transformer: str) -> int:
        return 0

    raises_definition(lambda: pipeline(name="example", params=Params, steps=[
        step("producer", fn=producer), step("transformer", fn=transformer),
        step("consumer", fn=bad_consumer)]), "expects str", step="consumer",
        param="transformer")


def test_circular_is_caught_at_build():
    """Circular/missing dependencies are build errors (forward references are missing)."""
    def a(b: int) -> int:
        return b

    def b(a: int) -> int:
        return a

    with pytest.raises(PipelineDefinitionError, match="depends on 'b'"):
        pipeline(name="cyc", params=Params, steps=[step("a", fn=a), step("b", fn=b)])


def test_sync_async_consistency_at_build():
    """Mixing async steps with sync ``Iterator`` types fails at build time."""
    async def transformer_async(producer: Iterator[int]) -> int:
        return 0

    with pytest.raises(PipelineDefinitionError, match="UNRUNNABLE"):
        pipeline(name="mixed", params=Params, steps=[
            step("producer", fn=producer), step("transformer", fn=transformer_async)])


def test_runner_flags_in_dag():
    """The Dag says which runner it needs; the example is a sync-stream pipeline."""
    dag = example().dag
    assert dag.requires_sync_runner is True
    assert dag.requires_async_runner is False
