"""Generated Airflow files run under Airflow 3 for real (issue 26): the same cases as
Dagster's and Prefect's, in Airflow's own cached venv, with a temporary
``AIRFLOW_HOME`` (SQLite): ``airflow db migrate``, ``airflow dags reserialize`` (the
files parse under Airflow's DAG processor), then each DAG runs as ``airflow dags
test`` runs it, all in one process; the outputs are read back with ``load_outputs``
and compared with ``run()``'s."""
from __future__ import annotations

import sys

import pytest

import export_pipelines
from orchestrators import (EXTRA, cases_to_run, change_stale_module, check_case, check_sales,
                           run_all, run_driver, stale_module)
from synaflow.export import ExportError, load_outputs
from synaflow.export.airflow import to_airflow

CASES_RUN = cases_to_run()


@pytest.fixture(scope="module")
def airflow_runs(tmp_path_factory):
    return run_all("airflow", to_airflow, tmp_path_factory.mktemp("airflow"))


@pytest.mark.parametrize("case", CASES_RUN, ids=[c.name for c in CASES_RUN])
def test_conformance_case_under_airflow(case, airflow_runs):
    check_case(case, *airflow_runs[case.name])


@pytest.mark.parametrize("name", list(EXTRA))
def test_arrow_disk_materializer_and_ray_under_airflow(name, airflow_runs, tmp_path):
    check_sales(name, *airflow_runs[name], tmp_path)


def test_the_file_maps_retries_resources_and_params():
    text = to_airflow(export_pipelines.sales(), store="/data/runs",
                      source="export_pipelines:sales")
    assert text == to_airflow(export_pipelines.sales(), store="/data/runs",
                              source="export_pipelines:sales")  # deterministic
    assert "@task(task_id='table', retries=2, pool_slots=1, executor_config={'synaflow': " \
           "{'memory': 67108864, 'num_cpus': 1.0}})" in text
    assert "'out': Param(type='string')," in text and "'n': Param(4, type='integer')," in text
    assert "t_table = slice_table(t_amounts)" in text  # XCom carries the URI only
    assert "from airflow.sdk import" in text and "airflow" not in sys.modules


def test_a_schedule_needs_a_default_for_every_field():
    with pytest.raises(ExportError, match="a scheduled Airflow DAG needs a default for every "
                                          "params field, and 'out' has none"):
        to_airflow(export_pipelines.sales(), store="/s", source="export_pipelines:sales",
                   schedule="@daily")
    assert "schedule='@daily'" in to_airflow(export_pipelines.sales_with_defaults(),
                                             store="/s", source="export_pipelines:x",
                                             schedule="@daily")


def test_a_stale_file_is_refused_and_bad_params_never_reach_a_step(tmp_path):
    (tmp_path / "flow.py").write_text(stale_module(tmp_path, to_airflow))
    job = {"file": str(tmp_path / "flow.py"), "name": "flow", "params": {"n": 3}}
    fresh, bad = run_driver("airflow", [job, dict(job, params={"n": "three"})], tmp_path,
                            path=[str(tmp_path)])
    assert fresh["success"] and load_outputs(tmp_path / "store") == {"shown": "6"}
    assert "Invalid input for param n" in bad["params_error"], bad
    change_stale_module(tmp_path)
    stale, = run_driver("airflow", [job], tmp_path, path=[str(tmp_path)])
    assert "Pipeline 'flow'" in stale["load_error"] and "double" in stale["load_error"], stale


def test_the_command_line_writes_an_airflow_file(tmp_path):
    from synaflow.cli import main

    out = tmp_path / "sales_dag.py"
    assert main(["--catalog", "export_pipelines", "export", "airflow", "sales",
                 "--store", str(tmp_path / "store"), "-o", str(out)]) == 0
    assert out.read_text() == to_airflow(export_pipelines.sales(),
                                         store=str(tmp_path / "store"),
                                         source="export_pipelines:catalog")
