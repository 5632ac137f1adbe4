"""Grouping from the contract alone (issue 25, item 5): one group per streaming
component by default; group="steps" refuses a stream that would cross; "pipeline" is
one group. Checked on every conformance case: groups partition the steps, keep every
lazy stream edge inside one group, and come in an order in which they can run."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from synaflow import PipelineDefinitionError, pipeline, step
from synaflow.core.dag import Dag
from synaflow.export.grouping import Group, groups, stream_edges
from synaflow.testing import CASES


def _dag(case):
    built = case.build()
    return getattr(built, "dag", built)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_components_on_every_conformance_case(case):
    dag = _dag(case)
    found = groups(dag)
    owner = {s: g.name for g in found for s in g.steps}
    assert sorted(owner) == sorted(dag.steps)  # a partition
    assert sum(len(g.steps) for g in found) == len(dag.steps)
    for producer, consumer in stream_edges(dag):
        assert owner[producer] == owner[consumer], (producer, consumer)
    position = {g.name: i for i, g in enumerate(found)}
    for consumer in dag.steps:
        for producer in dag.step_dependencies(consumer):
            assert position[owner[producer]] <= position[owner[consumer]]
    assert groups(Dag.from_dict(dag.to_dict())) == found  # from the contract alone


class N(NamedTuple):
    n: int = 3


def nums(n: int) -> Iterator[int]:
    yield from range(n)


def sq(nums: int) -> int:
    return nums * nums


def cube(nums: int) -> int:
    return nums ** 3


def zipped(sq: int, cube: int) -> int:
    return sq + cube


def total(zipped: list[int]) -> int:
    return sum(zipped)


def report(total: int, n: int) -> str:
    return f"{n}: {total}"


def fan() -> object:
    return pipeline(name="fan", params=N, steps=[
        step("nums", fn=nums), step("sq", fn=sq), step("cube", fn=cube),
        step("zipped", fn=zipped), step("total", fn=total), step("report", fn=report)])


def test_fan_out_and_lockstep_zip_stay_together():
    assert groups(fan()) == [Group("nums", ("nums", "sq", "cube", "zipped")),
                             Group("total", ("total",)), Group("report", ("report",))]


def test_steps_refuses_a_crossing_stream():
    with pytest.raises(PipelineDefinitionError) as info:
        groups(fan(), "steps")
    text = str(info.value)
    assert "group='steps' would put step 'nums' and step 'sq' in different processes" in text
    assert "Fix: use group='components' (the default)" in text


def test_steps_and_pipeline_when_nothing_streams():
    def a(n: int) -> int:
        return n + 1

    def b(a: int) -> int:
        return a * 2

    p = pipeline(name="plain", params=N, steps=[step("a", fn=a), step("b", fn=b)])
    assert groups(p, "steps") == [Group("a", ("a",)), Group("b", ("b",))]
    assert groups(p, "pipeline") == [Group("a", ("a", "b"))]
    with pytest.raises(ValueError, match="group must be one of 'components', 'steps', "
                       "'pipeline', got 'nodes'"):
        groups(p, "nodes")


class _Node:
    def __init__(self, stream: bool) -> None:
        self.is_stream, self.materialize_output = stream, False


class _ShapeDag:
    """The least a Dag offers grouping, for a shape the builder itself refuses today
    (asymmetric lockstep): a value made from a stream read back into that stream's
    component. Grouping must still merge rather than order the groups in a cycle."""

    name = "loop"

    def __init__(self, deps: dict[str, list[str]], streams: set[str]) -> None:
        self.deps = deps
        self.steps = {n: _Node(n in streams) for n in deps}

    def step_dependencies(self, name: str) -> list[str]:
        return self.deps[name]

    def get_execution_levels(self) -> list[list[str]]:
        return [[n] for n in self.deps]  # declared in a topological order


def test_a_value_read_back_into_its_stream_joins_the_group():
    """gen -> each1 (collected) -> count -> gen2, and zip reads gen and gen2 lazily:
    {gen, each1, gen2, zip} stream together, count sits between, so it joins them."""
    dag = _ShapeDag({"gen": [], "each1": ["gen"], "count": ["each1"], "gen2": ["count"],
                     "zip": ["gen", "gen2"], "last": ["zip"]},
                    streams={"gen", "each1", "gen2"})
    dag.steps["each1"].materialize_output = True
    found = groups(dag)
    assert found == [Group("gen", ("gen", "each1", "count", "gen2", "zip")),
                     Group("last", ("last",))]
