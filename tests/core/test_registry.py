"""``PipelineRegistry`` (spec 08 §1): add, include registration, collisions, atomicity.

Pipelines compile when they are created, so ``add`` only collects the include tree,
checks names, and registers everything or nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pytest

from buildkit import example
from synaflow import PipelineRegistry, include, pipeline, step


class Sub(NamedTuple):
    v: int


class Root(NamedTuple):
    n: int = 1


def leaf(v: int) -> int:
    return v


def to_sub(n: int) -> Sub:
    return Sub(v=n)


def use(inc: int) -> int:
    return inc


def sub(name: str = "sub"):
    return pipeline(name=name, params=Sub, steps=[step("leaf", fn=leaf)], exports="leaf")


def root(name: str = "root", inner=None):
    return pipeline(name=name, params=Root, steps=[
        include("inc", fn=to_sub, pipeline=inner or sub()), step("use", fn=use)])


def test_add_rejects_non_pipeline():
    """Only PipelineDef objects can be added."""
    with pytest.raises(TypeError, match="expected PipelineDef, got int"):
        PipelineRegistry().add(5)  # type: ignore[arg-type]


def test_includes_registered_in_order():
    """The root, then every included pipeline depth-first in step order."""
    reg = PipelineRegistry()
    reg.add(example("report"))
    assert list(reg) == ["report", "stats"]
    reg = PipelineRegistry()
    reg.add(example("nested"))
    assert list(reg) == ["root", "lvl1", "lvl2", "lvl3"]


def test_mapping_behaviour():
    """A read-only Mapping in registration order."""
    reg = PipelineRegistry()
    weather, report = example("weather"), example("report")
    reg.add(weather)
    reg.add(report)
    assert isinstance(reg, Mapping)
    assert len(reg) == 3 and "stats" in reg and "nope" not in reg
    assert reg["weather"] is weather and reg.get("nope") is None
    assert list(reg.keys()) == ["weather", "report", "stats"]
    assert [p.name for p in reg.values()] == list(reg)
    assert dict(reg.items())["report"] is report
    with pytest.raises(TypeError):
        reg["x"] = weather  # type: ignore[index]


def test_readd_same_object_noop():
    """Adding the same object again (directly or through an include) changes nothing."""
    reg = PipelineRegistry()
    report = example("report")
    reg.add(report)
    reg.add(report)
    reg.add(report.steps[0].pipeline)
    assert list(reg) == ["report", "stats"]


def test_name_taken_by_other_instance():
    """A name already registered with a different object is refused."""
    reg = PipelineRegistry()
    reg.add(sub())
    with pytest.raises(ValueError, match="'sub' is already registered with a different instance"):
        reg.add(sub())


def test_failed_add_is_atomic():
    """A refused add registers nothing, not even the tree's new names."""
    reg = PipelineRegistry()
    reg.add(sub())
    before = dict(reg)
    with pytest.raises(ValueError):
        reg.add(root(name="fresh_root"))  # includes another 'sub' instance
    assert dict(reg) == before and "fresh_root" not in reg


def test_same_name_twice_in_tree():
    """One tree naming two different objects alike is refused."""
    p = pipeline(name="root", params=Root, steps=[
        include("a", fn=to_sub, pipeline=sub()), include("b", fn=to_sub, pipeline=sub())])
    with pytest.raises(ValueError, match="Pipeline name 'sub' refers to multiple instances"):
        PipelineRegistry().add(p)


def test_include_cycle_detected():
    """A definition mutated into an include cycle is refused by the registry."""
    outer = root()
    inner = outer.steps[0].pipeline
    inner.steps.append(include("back", fn=to_sub, pipeline=outer))
    with pytest.raises(ValueError, match="Pipeline include cycle detected at 'root'"):
        PipelineRegistry().add(outer)


def test_get_dag_identity():
    """get_dag returns the Dag compiled with the pipeline, the same object each time."""
    reg = PipelineRegistry()
    report = example("report")
    reg.add(report)
    assert reg.get_dag("report") is reg.get_dag("report") is report.dag
    assert reg.get_dag("stats") is report.steps[0].pipeline.dag
    with pytest.raises(KeyError, match="nope"):
        reg.get_dag("nope")


def test_from_module():
    """from_module imports a module and returns its registry attribute."""
    reg = PipelineRegistry.from_module("tests.examples_build.catalog")
    assert list(reg) == ["weather", "report", "stats"]
    from tests.examples_build import catalog

    assert reg is catalog.catalog


def test_from_module_errors():
    """Not a registry -> TypeError naming module.attr; import/attribute errors propagate."""
    with pytest.raises(TypeError, match=r"tests\.examples_build\.catalog\.not_a_registry must "
                                        r"be a PipelineRegistry, got dict"):
        PipelineRegistry.from_module("tests.examples_build.catalog", attr="not_a_registry")
    with pytest.raises(ModuleNotFoundError):
        PipelineRegistry.from_module("no_such_catalog_module_xyz")
    with pytest.raises(AttributeError):
        PipelineRegistry.from_module("tests.examples_build.catalog", attr="missing")
