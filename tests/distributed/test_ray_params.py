"""``ray_run`` checks params with the same checker as ``run`` (issue 24, item 3), on a
real Ray: before anything is submitted, and with defaults filled in."""
from __future__ import annotations

import sys
from typing import NamedTuple

import pytest
from ray import cloudpickle

from synaflow import ParamsError, pipeline, step
from synaflow.distributed import ray_run

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers lack test files


class Scan(NamedTuple):
    path: str
    threshold: int = 700


def flagged(path: str, threshold: int) -> str:
    return f"{path}>{threshold + 1}"


def test_ray_checks_params(ray_session):
    p = pipeline(name="scan", params=Scan, steps=[step("flagged", fn=flagged)])
    assert ray_run(p, {"path": "logs"}).outputs == {"flagged": "logs>701"}
    with pytest.raises(ParamsError, match=r"Pipeline 'scan': invalid params for Scan: field "
                       r"'threshold': expected int, got '700' \(str"):
        ray_run(p, {"path": "logs", "threshold": "700"})


class Prefix(NamedTuple):
    words: list[str]
    prefix: str = "#"


def tagger(prefix: str) -> str:
    return prefix * 2


def tagged(words: str, tag: str) -> str:  # EACH over the words, on Ray workers
    return tag + words


def joined(tagged: list[str]) -> str:
    return " ".join(tagged)


def test_ray_resource_factory_reads_params(ray_session):
    """The factory runs on the workers, called with the run's params fields."""
    p = pipeline(name="tagging", params=Prefix, resources={"tag": tagger},
                 steps=[step("tagged", fn=tagged), step("joined", fn=joined)])
    assert ray_run(p, Prefix(words=["a", "b"], prefix="@")).outputs == {"joined": "@@a @@b"}
