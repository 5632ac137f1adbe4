"""One params checker for every way in (issue 24, item 3): ``run``, ``async_run`` and
``ray_run`` check the params against the class before any step runs; unknown keys,
missing fields without a default and values of the wrong type are a ``ParamsError``
naming the field; defaults fill in. Scalars are strict (no ``"7"`` -> 7)."""
from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional, Protocol

import pytest

from synaflow import Observer, ParamsError, async_run, pipeline, run, step
from synaflow.core.params_check import checked_params


class Job(NamedTuple):
    path: str
    n: int = 2
    out: Path = Path("out")
    ratio: float = 1.0
    tags: list[str] = []
    note: Optional[str] = None


def plan(path: str, n: int, out: Path, ratio: float, tags: list[str], note: Optional[str]
         ) -> tuple:
    return (path, n, out, ratio, tags, note)


def ray_serialize(p, params):
    from ray import cloudpickle

    from synaflow.distributed import ray_run

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack test files
    return ray_run(p, params, debug="serialize")


RUNNERS = {"sync": run, "async": lambda p, params: asyncio.run(async_run(p, params)),
           "ray-serialize": ray_serialize}


def job_pipeline(events: list | None = None):
    observers = [Observer(events.append)] if events is not None else []
    return pipeline(name="job", params=Job, observers=observers, steps=[step("plan", fn=plan)])


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_defaults_fill_a_dict(runner_name):
    out = RUNNERS[runner_name](job_pipeline(), {"path": "x"}).outputs["plan"]
    assert out == ("x", 2, Path("out"), 1.0, [], None)


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_declared_types_reach_the_steps(runner_name):
    """A string for a Path, an int for a float, a tuple for a list: read as declared."""
    out = RUNNERS[runner_name](job_pipeline(), {"path": "x", "out": "/tmp/o", "ratio": 3,
                                                 "tags": ("a", "b")}).outputs["plan"]
    assert out == ("x", 2, Path("/tmp/o"), 3.0, ["a", "b"], None)
    assert type(out[2]) is not str and type(out[3]) is float and type(out[4]) is list


@pytest.mark.parametrize("runner_name", list(RUNNERS))
@pytest.mark.parametrize("bad, words", [
    (Job(path=5), "field 'path': expected str, got 5 (int)"),
    ({"path": "x", "n": "7"}, "field 'n': expected int, got '7' (str, which is not read as int"),
    ({"path": "x", "n": True}, "field 'n': expected int, got True (bool)"),
    ({"path": None}, "field 'path': expected str, got None (NoneType)"),
    ({"path": "x", "tags": ["a", 1]}, "field 'tags': expected list[str], got ['a', 1] (list) "
                                      "(at [1]: Input should be a valid string)"),
    ({"path": "x", "nn": 3}, "Unknown params field(s) for Job: ['nn'] (its fields: path, n, out, "
                             "ratio, tags, note)"),
    ({"n": 3}, "Missing required params field(s) for Job: ['path']; 'path' is read by step(s) "
               "'plan'"),
], ids=["instance-int-for-str", "str-for-int", "bool-for-int", "none-for-str", "list-item",
        "unknown", "missing"])
def test_bad_params_fail_before_any_step(runner_name, bad, words):
    events: list = []
    with pytest.raises(ParamsError) as info:
        RUNNERS[runner_name](job_pipeline(events), bad)
    assert str(info.value).startswith("Pipeline 'job': ")
    assert words in str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert events == []  # not even PipelineEvent.STARTED


def test_instances_pass_through_unchanged():
    tags = ["a"]
    got = checked_params("p", Job, Job(path="x", tags=tags)._asdict())
    assert got["tags"] is tags


class Point(NamedTuple):
    x: int
    y: int = 0


@dataclass
class Area:
    corner: Point
    labels: dict[str, int] = field(default_factory=dict)


class Drawable(Protocol):
    def draw(self) -> str: ...


class Opaque:
    def __init__(self, text: str) -> None:
        self.text = text


class Scene(NamedTuple):
    area: Area
    shape: Drawable
    thing: Opaque


def test_nested_records_checked_as_strictly():
    ok = checked_params("s", Scene, {"area": {"corner": [1]}, "shape": object(),
                                     "thing": Opaque("t")})
    assert ok["area"] == Area(Point(1, 0))
    with pytest.raises(ParamsError, match=r"field 'area': expected Area, got \{'corner': "
                       r"\{'x': '1'\}\} \(dict\)"):
        checked_params("s", Scene, {"area": {"corner": {"x": "1"}}, "shape": 1, "thing": 1})


def test_types_pydantic_cannot_check_are_taken_as_given():
    """A Protocol is not checkable at run time; an unknown class is called with the
    value (as the CLI always did)."""
    marker = object()
    got = checked_params("s", Scene, {"area": Area(Point(1)), "shape": marker, "thing": "t"})
    assert got["shape"] is marker and got["thing"].text == "t"


# -- a params field no step reads -------------------------------------------------------------------
class Loose(NamedTuple):
    path: str
    typo_threshold: int = 3


def read_path(path: str) -> str:
    return path


def test_unused_field_warns_at_build():
    from synaflow.core.exceptions import UnusedParamsFieldWarning

    with pytest.warns(UnusedParamsFieldWarning) as caught:
        pipeline(name="loose", params=Loose, steps=[step("read_path", fn=read_path)])
    assert [str(w.message) for w in caught] == [
        "Pipeline 'loose': params field 'typo_threshold' of Loose is read by no step, "
        "resource factory or output path. Fix: remove it from Loose, or give the step that needs it a "
        "parameter named 'typo_threshold'"]
    assert caught[0].filename == __file__  # points at the pipeline(...) call


def test_every_field_read_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline(name="job", params=Job, steps=[step("plan", fn=plan)])
