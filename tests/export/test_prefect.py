"""Generated Prefect files run under Prefect 3 for real (issue 26): the same cases as
Dagster's, in Prefect's own cached venv, all flows in one process with one ephemeral
Prefect server; the outputs are read back with ``load_outputs`` and compared with
``run()``'s."""
from __future__ import annotations

import sys

import pytest

import export_pipelines
from orchestrators import (EXTRA, cases_to_run, change_stale_module, check_case, check_sales,
                           run_all, run_driver, stale_module)
from synaflow.export import ExportError, load_outputs
from synaflow.export.prefect import to_prefect

CASES_RUN = cases_to_run()


@pytest.fixture(scope="module")
def prefect_runs(tmp_path_factory):
    return run_all("prefect", to_prefect, tmp_path_factory.mktemp("prefect"))


@pytest.mark.parametrize("case", CASES_RUN, ids=[c.name for c in CASES_RUN])
def test_conformance_case_under_prefect(case, prefect_runs):
    check_case(case, *prefect_runs[case.name])


@pytest.mark.parametrize("name", list(EXTRA))
def test_arrow_disk_materializer_and_ray_under_prefect(name, prefect_runs, tmp_path):
    check_sales(name, *prefect_runs[name], tmp_path)


def test_the_file_maps_retries_resources_and_params():
    text = to_prefect(export_pipelines.sales(), store="/data/runs",
                      source="export_pipelines:sales")
    assert text == to_prefect(export_pipelines.sales(), store="/data/runs",
                              source="export_pipelines:sales")  # deterministic
    assert "@task(name='table', retries=2, tags=['synaflow-memory:67108864', " \
           "'synaflow-num-cpus:1', 'synaflow-steps:table'])" in text
    assert "def sales(out: str, n: int = 4, region: str = 'eu') -> str:" in text
    assert "from prefect import" in text and "prefect" not in sys.modules


def test_a_stale_file_is_refused_and_bad_params_never_reach_a_step(tmp_path):
    (tmp_path / "flow.py").write_text(stale_module(tmp_path, to_prefect))
    job = {"file": str(tmp_path / "flow.py"), "name": "flow", "params": {"n": 3}}
    fresh, bad = run_driver("prefect", [job, dict(job, params={"n": "three"})], tmp_path,
                            path=[str(tmp_path)])
    assert fresh["success"] and load_outputs(tmp_path / "store") == {"shown": "6"}
    assert not bad["success"] and "ParameterTypeError" in bad["failure"] \
        and " - n: " in bad["failure"], bad  # refused by the flow's typed arguments
    assert not (tmp_path / "store" / "_slices").exists()
    change_stale_module(tmp_path)
    stale, = run_driver("prefect", [job], tmp_path, path=[str(tmp_path)])
    assert "Pipeline 'flow'" in stale["load_error"] and "double" in stale["load_error"], stale


def test_a_field_may_not_hide_a_name_the_flow_uses():
    from typing import NamedTuple

    from synaflow import pipeline, step

    Clash = NamedTuple("Clash", [("flow_run", int)])
    p = pipeline(name="clash", params=Clash,
                 steps=[step("double", fn=export_pipelines.double_run)])
    with pytest.raises(ExportError, match="params field 'flow_run' would hide"):
        to_prefect(p, store="/s", source="export_pipelines:nothing")


def test_the_command_line_writes_a_prefect_file(tmp_path):
    from synaflow.cli import main

    out = tmp_path / "sales_flow.py"
    assert main(["--catalog", "export_pipelines", "export", "prefect", "sales",
                 "--store", str(tmp_path / "store"), "-o", str(out)]) == 0
    assert out.read_text() == to_prefect(export_pipelines.sales(),
                                         store=str(tmp_path / "store"),
                                         source="export_pipelines:catalog")
