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


class Out(NamedTuple):
    words: list[str]
    out_dir: str


def test_ray_materializer_path_from_params(ray_session, tmp_path):
    """The path is filled in on the driver; the workers write where the run says."""
    import json

    from synaflow import disk_materializer, json_serializer

    p = pipeline(name="placed", params=Out, steps=[
        step("tagged", fn=lambda_free_upper),
        step("joined", fn=joined, materializer=disk_materializer("{out_dir}/final",
                                                                  json_serializer))])
    for run_dir in ("a", "b"):
        ray_run(p, Out(words=["x", run_dir], out_dir=str(tmp_path / run_dir)))
    assert json.loads((tmp_path / "a" / "final" / "joined.json").read_text()) == "X A"
    assert json.loads((tmp_path / "b" / "final" / "joined.json").read_text()) == "X B"


def lambda_free_upper(words: str) -> str:
    return words.upper()
