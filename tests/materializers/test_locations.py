"""Output locations from params, and a dead-letter file per run (issue 24, item 5).

A materializer or error-materializer path may name params fields
(``"{out_dir}/summary"``): checked when ``pipeline(...)`` is called, filled in per run,
on every runner. The disk error materializer records which run (and which item) each
record came from, and ``mode="overwrite"`` keeps one run's records.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from synaflow import (PipelineDefinitionError, async_run, disk_error_materializer,
                      disk_materializer, json_serializer, jsonl_serializer, pipeline, run,
                      step, text_serializer)
from synaflow.core.dag import Dag


class Job(NamedTuple):
    out_dir: str
    day: str
    count: int = 5


def numbers(count: int) -> Iterator[int]:
    yield from range(count)


def inverse(numbers: int) -> float:
    return 1 / (numbers % 2)  # fails for the even ones


def total(inverse: list[float]) -> float:
    return sum(inverse)


def job_pipeline(mode: str = "append", day: str = "{day}") -> object:
    return pipeline(name="job", params=Job, steps=[
        step("numbers", fn=numbers),
        step("inverse", fn=inverse,
             error_materializer=disk_error_materializer("{out_dir}/dead", jsonl_serializer,
                                                        mode=mode)),
        step("total", fn=total,
             materializer=disk_materializer("{out_dir}/" + day, json_serializer)),
    ])


def ray_serialize(p, params):
    from ray import cloudpickle

    from synaflow.distributed import ray_run

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack test files
    return ray_run(p, params, debug="serialize")


RUNNERS = {"sync": run, "async": lambda p, params: asyncio.run(async_run(p, params)),
           "ray-serialize": ray_serialize}


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_paths_filled_per_run(runner_name, tmp_path):
    p = job_pipeline()
    for day in ("mon", "tue"):
        RUNNERS[runner_name](p, Job(out_dir=str(tmp_path), day=day, count=4))
    assert json.loads((tmp_path / "mon" / "total.json").read_text()) == 2.0
    assert (tmp_path / "tue" / "total.json").exists()
    dead = records(tmp_path / "dead" / "inverse.jsonl")
    assert [(r["item_index"], r["item"]) for r in dead] == [(0, "0"), (2, "2")] * 2  # appended
    assert len({r["run_id"] for r in dead}) == 2 and all(r["step_name"] == "inverse"
                                                         for r in dead)


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_overwrite_keeps_one_runs_records(runner_name, tmp_path):
    p = job_pipeline(mode="overwrite")
    first = RUNNERS[runner_name](p, Job(out_dir=str(tmp_path), day="mon", count=5))
    second = RUNNERS[runner_name](p, Job(out_dir=str(tmp_path), day="mon", count=3))
    dead = records(tmp_path / "dead" / "inverse.jsonl")
    assert [r["item_index"] for r in dead] == [0, 2]
    assert {r["run_id"] for r in dead} == {second.run_id} != {first.run_id}
    RUNNERS[runner_name](p, Job(out_dir=str(tmp_path), day="mon", count=0))  # no errors
    assert not (tmp_path / "dead" / "inverse.jsonl").exists()


def test_unknown_field_is_a_build_error():
    with pytest.raises(PipelineDefinitionError) as info:
        job_pipeline(day="{date}")
    assert str(info.value) == (
        "Pipeline 'job', step 'total': its materializer path names '{date}', which is not a "
        "params field of Job (fields: out_dir, day, count). Fix: add a field 'date' to Job, "
        "or name one it has")


def test_malformed_template_is_a_build_error():
    with pytest.raises(PipelineDefinitionError, match=r"step 'total': its materializer path: "
                       r"path template '\{out_dir\}/\{day' is malformed"):
        job_pipeline(day="{day")


def test_template_stays_a_template_in_the_contract(tmp_path):
    p = job_pipeline()
    data = p.dag.to_dict()
    text = json.dumps(data)
    assert '"path": "{out_dir}/{day}"' in text and '"path": "{out_dir}/dead"' in text
    loaded = Dag.from_dict(data)
    run(loaded, Job(out_dir=str(tmp_path), day="wed", count=2))
    assert (tmp_path / "wed" / "total.json").exists()


def test_fields_named_in_paths_count_as_used():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # out_dir and day are read by the paths only
        job_pipeline()


def test_bad_mode_refused():
    with pytest.raises(PipelineDefinitionError, match="mode must be 'append' or 'overwrite'"):
        disk_error_materializer("x", jsonl_serializer, mode="replace")


def test_text_records_one_per_line(tmp_path):
    p = pipeline(name="txt", params=Job, steps=[
        step("numbers", fn=numbers),
        step("inverse", fn=inverse,
             error_materializer=disk_error_materializer("{out_dir}", text_serializer)),
        step("total", fn=total)])
    run(p, Job(out_dir=str(tmp_path), day="x", count=4))
    lines = (tmp_path / "inverse.txt").read_text().splitlines()
    assert len(lines) == 2 and all(line.startswith("ErrorRecord(") for line in lines)
    assert "item_index=2, item='2')" in lines[1]


def test_composite_stages_are_filled_too(tmp_path):
    from synaflow.materializers import (composite_error_materializer, composite_materializer,
                                        log_error_materializer)

    p = pipeline(name="both", params=Job, steps=[
        step("numbers", fn=numbers),
        step("inverse", fn=inverse, error_materializer=composite_error_materializer(
            log_error_materializer(),
            disk_error_materializer("{out_dir}/dead", jsonl_serializer, mode="overwrite"))),
        step("total", fn=total, materializer=composite_materializer(
            disk_materializer("{out_dir}/{day}", json_serializer)))])
    for count in (5, 3):
        run(p, Job(out_dir=str(tmp_path), day="thu", count=count))
    assert json.loads((tmp_path / "thu" / "total.json").read_text()) == 1.0
    assert [r["item_index"] for r in records(tmp_path / "dead" / "inverse.jsonl")] == [0, 2]
    with pytest.raises(PipelineDefinitionError, match="names '{nope}'"):
        pipeline(name="both", params=Job, steps=[
            step("numbers", fn=numbers), step("inverse", fn=inverse),
            step("total", fn=total, materializer=composite_materializer(
                disk_materializer("{nope}", json_serializer)))])
