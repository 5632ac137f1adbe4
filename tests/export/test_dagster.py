"""Generated Dagster files run under Dagster for real (issue 26): every conformance case
without run-time overrides, plus an Arrow table output, a disk materializer, retries
and resources, and once on an embedded Ray. Dagster runs in its own cached venv
(``orchestrators.py``) with ``execute_in_process``, no server; the outputs are read
back with ``load_outputs`` and compared with ``run()``'s."""
from __future__ import annotations

import sys

import pytest

import export_pipelines
from orchestrators import (EXTRA, cases_to_run, change_stale_module, check_case, check_sales,
                           run_all, run_driver, stale_module)
from synaflow.export import ExportError, load_outputs
from synaflow.export.dagster import to_dagster

CASES_RUN = cases_to_run()


@pytest.fixture(scope="module")
def dagster_runs(tmp_path_factory):
    return run_all("dagster", to_dagster, tmp_path_factory.mktemp("dagster"))


@pytest.mark.parametrize("case", CASES_RUN, ids=[c.name for c in CASES_RUN])
def test_conformance_case_under_dagster(case, dagster_runs):
    check_case(case, *dagster_runs[case.name])


@pytest.mark.parametrize("name", list(EXTRA))
def test_arrow_disk_materializer_and_ray_under_dagster(name, dagster_runs, tmp_path):
    check_sales(name, *dagster_runs[name], tmp_path)


def test_the_file_maps_retries_resources_and_params():
    text = to_dagster(export_pipelines.sales(), store="/data/runs",
                      source="export_pipelines:sales")
    assert text == to_dagster(export_pipelines.sales(), store="/data/runs",
                              source="export_pipelines:sales")  # deterministic
    assert "retry_policy=dg.RetryPolicy(max_retries=2)" in text
    assert "'synaflow/num_cpus': '1'" in text and "'synaflow/memory': '67108864'" in text
    assert "class SalesParams(dg.Config):" in text
    assert "    out: str\n    n: int = 4\n    region: str = 'eu'" in text
    assert "import dagster" in text and "dagster" not in sys.modules


def test_a_stale_file_is_refused_and_bad_params_never_reach_a_step(tmp_path):
    text = stale_module(tmp_path, to_dagster)
    assert "source='stale_flow:flow'" in text  # found by itself
    (tmp_path / "flow.py").write_text(text)
    job = {"file": str(tmp_path / "flow.py"), "name": "flow", "params": {"n": 3}}
    fresh, bad = run_driver("dagster", [job, dict(job, params={"n": "three"})], tmp_path,
                            path=[str(tmp_path)])
    assert fresh["success"] and load_outputs(tmp_path / "store") == {"shown": "6"}
    assert "config:n." in bad["config_error"] and "three" in bad["config_error"], bad
    change_stale_module(tmp_path)
    stale, = run_driver("dagster", [job], tmp_path, path=[str(tmp_path)])
    assert "Pipeline 'flow'" in stale["load_error"] and "double" in stale["load_error"] \
        and "shown" not in stale["load_error"], stale


def test_export_time_errors_name_the_field_or_the_source():
    from synaflow import pipeline, step

    p = pipeline(name="when", params=export_pipelines.When,
                 steps=[step("iso", fn=export_pipelines.iso_day)])
    with pytest.raises(ExportError, match="params field 'day' has type date"):
        to_dagster(p, store="/s", source="export_pipelines:nothing")
    local = pipeline(name="local", params=export_pipelines.Sales,
                     steps=[step("doubled", fn=export_pipelines.doubled)])
    with pytest.raises(ExportError, match="Pipeline 'local': cannot tell which module"):
        to_dagster(local, store="/s")


def test_the_command_line_writes_a_file_dagster_runs(tmp_path, capsys):
    from synaflow.cli import main

    out = tmp_path / "sales_job.py"
    store = tmp_path / "store"
    assert main(["--catalog", "export_pipelines", "export", "dagster", "sales",
                 "--store", str(store), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert out.read_text() == to_dagster(export_pipelines.sales(), store=str(store),
                                         source="export_pipelines:catalog")
    done, = run_driver("dagster", [{"file": str(out), "name": "sales",
                                    "params": {"out": str(tmp_path / "files"), "n": 2}}],
                       tmp_path)
    assert done["success"], done
    assert load_outputs(store)["total"] == 36
    assert main(["--catalog", "export_pipelines", "export", "dagster", "sales",
                 "--store", str(store), "--address", "10.0.0.1:6379"]) == 1
    assert "needs --runner ray" in capsys.readouterr().err
