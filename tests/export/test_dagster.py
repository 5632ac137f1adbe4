"""Generated Dagster files run under Dagster for real (issue 26): every conformance case
without run-time overrides, plus an Arrow table output, a disk materializer, retries
and resources, and once on an embedded Ray. Dagster runs in its own cached venv
(``orchestrators.py``) with ``execute_in_process``, no server; the outputs are read
back with ``load_outputs`` and compared with ``run()``'s."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import export_pipelines
from orchestrators import python_for
from synaflow import run
from synaflow.engine.core import params_to_dict
from synaflow.export import ExportError, Store, load_outputs
from synaflow.export.dagster import to_dagster
from synaflow.export.plan import identifier
from synaflow.testing import CASES

HERE = Path(__file__).parent
CASES_RUN = [c for c in CASES if c.overrides is None]  # overrides are run-time objects
EXTRA = {"sales": "sync", "sales_on_ray": "ray"}


def _source(case) -> str:
    return f"export_pipelines:case_{case.name}"


def _params(value) -> dict:
    return json.loads(json.dumps(params_to_dict(value)))


def run_jobs(jobs: list[dict], folder: Path, *, path: list[str] = ()) -> list[dict]:
    """Run generated files in Dagster's venv; one result dict per job."""
    listing = folder / "jobs.json"
    listing.write_text(json.dumps(jobs))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(HERE), *path])}
    done = subprocess.run([str(python_for("dagster")), str(HERE / "run_dagster_jobs.py"),
                           str(listing)], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=900)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) == len(jobs), done.stderr[-4000:]
    return lines


@pytest.fixture(scope="module")
def dagster_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster")
    jobs, stores = [], {}
    for case in CASES_RUN:
        stores[case.name] = root / "stores" / case.name
        p = case.build()
        text = to_dagster(p, store=str(stores[case.name]), source=_source(case))
        (root / f"{case.name}.py").write_text(text)
        jobs.append({"file": str(root / f"{case.name}.py"), "job": identifier(p.dag.name),
                     "params": _params(case.params)})
    for name, runner in EXTRA.items():
        stores[name] = root / "stores" / name
        text = to_dagster(export_pipelines.sales(), store=str(stores[name]),
                          source="export_pipelines:sales", runner=runner)
        (root / f"{name}.py").write_text(text)
        jobs.append({"file": str(root / f"{name}.py"), "job": "sales",
                     "params": {"out": str(root / "out" / name)}})
    results = run_jobs(jobs, root)
    return {name: (result, stores[name])
            for name, result in zip([c.name for c in CASES_RUN] + list(EXTRA), results)}


@pytest.mark.parametrize("case", CASES_RUN, ids=[c.name for c in CASES_RUN])
def test_conformance_case_under_dagster(case, dagster_runs):
    result, store = dagster_runs[case.name]
    assert "load_error" not in result, result
    if case.raises is not None:
        assert not result["success"] and case.raises.__name__ in result["failure"], result
        return
    assert result["success"], result
    expected = dict(run(case.build(), case.params).outputs)
    assert load_outputs(store, result["run_id"]) == expected
    if case.outputs is not None:
        assert expected == case.outputs


@pytest.mark.parametrize("name", list(EXTRA))
def test_arrow_disk_materializer_and_ray_under_dagster(name, dagster_runs, tmp_path):
    result, store = dagster_runs[name]
    assert result["success"], result
    outputs = load_outputs(store, result["run_id"])
    expected = run(export_pipelines.sales(), export_pipelines.Sales(str(tmp_path))).outputs
    assert outputs.keys() == expected.keys() == {"table", "total"}
    assert outputs["total"] == expected["total"] == 120
    assert outputs["table"].equals(pa.table({"region": ["eu"] * 4,
                                             "taxed": [12, 24, 36, 48]}))
    runners = {m["runner"] for m in Store(store).manifests(result["run_id"]).values()}
    assert runners == {EXTRA[name]}
    written = Path(store).parent.parent / "out" / name / "rows.jsonl"
    assert written.read_text().count("\n") == 4  # the disk materializer wrote its file


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


STALE = '''
from typing import NamedTuple
from synaflow import OnError, pipeline, step

class P(NamedTuple):
    n: int = 2

def double(n: int) -> int:
    return n * 2

def shown(double: int) -> str:
    return str(double)

flow = pipeline(name="flow", params=P, steps=[step("double", fn=double, on_error={policy}),
                                              step("shown", fn=shown)])
'''


def test_a_stale_file_is_refused_and_bad_params_never_reach_a_step(tmp_path):
    module = tmp_path / "stale_flow.py"
    module.write_text(STALE.format(policy="OnError.CONTINUE"))
    sys.path.insert(0, str(tmp_path))
    try:
        import stale_flow

        text = to_dagster(stale_flow.flow, store=str(tmp_path / "store"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("stale_flow", None)
    assert "source='stale_flow:flow'" in text.replace('"', "'")  # found by itself
    (tmp_path / "flow.py").write_text(text)
    job = {"file": str(tmp_path / "flow.py"), "job": "flow", "params": {"n": 3}}
    fresh, = run_jobs([job], tmp_path, path=[str(tmp_path)])
    assert fresh["success"] and load_outputs(tmp_path / "store") == {"shown": "6"}
    bad, = run_jobs([dict(job, params={"n": "three"})], tmp_path, path=[str(tmp_path)])
    assert "config:n." in bad["config_error"] and "three" in bad["config_error"], bad
    module.write_text(STALE.format(policy="OnError.STOP"))  # changed after the export
    stale, = run_jobs([job], tmp_path, path=[str(tmp_path)])
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
    done, = run_jobs([{"file": str(out), "job": "sales",
                       "params": {"out": str(tmp_path / "files"), "n": 2}}], tmp_path)
    assert done["success"], done
    assert load_outputs(store)["total"] == 36
    assert main(["--catalog", "export_pipelines", "export", "dagster", "sales",
                 "--store", str(store), "--address", "10.0.0.1:6379"]) == 1
    assert "needs --runner ray" in capsys.readouterr().err
