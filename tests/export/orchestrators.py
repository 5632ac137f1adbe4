"""One cached virtualenv per orchestrator, for the export tests (issue 26).

Airflow and Prefect cannot share a virtualenv (their fastapi pins clash), so each
orchestrator gets its own, made the first time a test needs it and kept under
``.cache/orchestrators/<name>`` (or ``$SYNAFLOW_ORCHESTRATOR_VENVS``). It holds the
orchestrator at the version tested here, Ray (for ``--runner ray``), and this
repository installed editable with the orchestrator's extra (``synaflow[dagster]``,
...). A venv whose recorded requirements differ is made again. A venv that cannot be
made fails the test that asked for it, with pip's output: the export tests never skip.
"""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = Path(os.environ.get("SYNAFLOW_ORCHESTRATOR_VENVS", REPO / ".cache" / "orchestrators"))
_RUNTIME = ["pyarrow>=14", "inflect>=7.0", "ray>=2.40", "cloudpickle>=2.0"]
REQUIREMENTS = {
    "dagster": ["dagster==1.13.*", *_RUNTIME],
    "prefect": ["prefect==3.9.*", *_RUNTIME],
    "airflow": ["apache-airflow==3.3.*", *_RUNTIME],
}


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**(env or os.environ), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"cannot {what} (exit {done.returncode}): {' '.join(command)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def python_for(name: str) -> Path:
    """The interpreter of orchestrator ``name``'s venv, made if needed."""
    folder = CACHE / name
    python = folder / "bin" / "python"
    stamp = folder / "synaflow-venv.txt"
    wanted = "\n".join([str(REPO), "extra", *REQUIREMENTS[name]])
    with _locked(CACHE / f"{name}.lock"):
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        if folder.exists():
            _run(["rm", "-rf", str(folder)], f"remove the stale {name} venv")
        _run([sys.executable, "-m", "venv", str(folder)], f"create the {name} venv")
        _run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS[name]],
             f"install {name} into its venv")
        _run([str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[{name}]"],
             f"install synaflow[{name}] into the {name} venv")
        stamp.write_text(wanted)
    return python


# -- what every orchestrator test runs ----------------------------------------------------
def cases_to_run() -> list:
    """The conformance cases an orchestrator runs: all but those with run-time
    overrides (objects of the caller's process, not part of the contract)."""
    from synaflow.testing import CASES

    return [c for c in CASES if c.overrides is None]


EXTRA = {"sales": "sync", "sales_on_ray": "ray"}  # export_pipelines.sales, per runner


def generate(render: Callable[..., str], root: Path) -> tuple[list[dict], dict[str, Path]]:
    """One generated file per case (and per ``EXTRA`` run), with the params to run it
    with: ``(jobs, stores by name)``; a job is ``{"file", "name", "params"}``."""
    import export_pipelines

    from synaflow.engine.core import params_to_dict
    from synaflow.export.plan import identifier

    jobs, stores = [], {}
    for case in cases_to_run():
        stores[case.name] = root / "stores" / case.name
        p = case.build()
        _write(root / f"{case.name}.py", render(p, store=str(stores[case.name]),
                                                source=f"export_pipelines:case_{case.name}"))
        jobs.append({"file": str(root / f"{case.name}.py"), "name": identifier(p.dag.name),
                     "params": json.loads(json.dumps(params_to_dict(case.params)))})
    for name, runner in EXTRA.items():
        stores[name] = root / "stores" / name
        _write(root / f"{name}.py", render(export_pipelines.sales(), store=str(stores[name]),
                                           source="export_pipelines:sales", runner=runner))
        jobs.append({"file": str(root / f"{name}.py"), "name": "sales",
                     "params": {"out": str(root / "out" / name)}})
    return jobs, stores


def run_all(orchestrator: str, render: Callable[..., str], root: Path) -> dict[str, tuple]:
    """Generate every case's file (``generate``) and run them all under
    ``orchestrator``: case name (or ``EXTRA`` name) -> (result, store)."""
    jobs, stores = generate(render, root)
    results = run_driver(orchestrator, jobs, root)
    names = [c.name for c in cases_to_run()] + list(EXTRA)
    return {name: (result, stores[name]) for name, result in zip(names, results)}


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def run_driver(orchestrator: str, jobs: list[dict], folder: Path, *,
               path: list[str] = (), timeout: float = 900) -> list[dict[str, Any]]:
    """Run ``jobs`` with ``run_<orchestrator>.py`` in the orchestrator's venv, in one
    process; one result dict per job."""
    listing = folder / "jobs.json"
    listing.write_text(json.dumps(jobs))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(HERE), *path])}
    if orchestrator == "airflow":
        _prepare_airflow(folder, env)
    done = subprocess.run([str(python_for(orchestrator)), str(HERE / f"run_{orchestrator}.py"),
                           str(listing)], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=timeout)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) == len(jobs), \
        f"{orchestrator} driver exited {done.returncode}:\n{done.stderr[-4000:]}"
    return lines


def _prepare_airflow(folder: Path, env: dict[str, str]) -> None:
    """A temporary ``AIRFLOW_HOME`` (SQLite), ``folder`` as the dags folder, the database
    migrated and the generated files parsed by Airflow's own DAG processor."""
    env.update(AIRFLOW_HOME=str(folder / ".airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(folder),
               AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    airflow = str(python_for("airflow").parent / "airflow")
    _run([airflow, "db", "migrate"], "migrate Airflow's database", env)
    _run([airflow, "dags", "reserialize"], "parse the generated DAG files", env)


def check_case(case: Any, result: dict, store: Path) -> None:
    """A conformance case under an orchestrator gives run()'s outputs (read back with
    ``load_outputs``), or fails with the case's exception."""
    from synaflow import run
    from synaflow.export import load_outputs

    assert "load_error" not in result, result
    if case.raises is not None:
        assert not result["success"] and case.raises.__name__ in result["failure"], result
        return
    assert result["success"], result
    expected = dict(run(case.build(), case.params).outputs)
    assert load_outputs(store, result["run_id"]) == expected
    if case.outputs is not None:
        assert expected == case.outputs


def check_sales(name: str, result: dict, store: Path, tmp_path: Path) -> None:
    """``export_pipelines.sales`` under an orchestrator: an Arrow table output, a disk
    materializer's file, the runner of every slice."""
    import export_pipelines
    import pyarrow as pa

    from synaflow import run
    from synaflow.export import Store, load_outputs

    assert result.get("success"), result
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


STALE = """
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
"""


def stale_module(folder: Path, render: Callable[..., str]) -> str:
    """Write module ``stale_flow`` into ``folder``, return ``render``'s file for its
    pipeline; then the module changes its contract (``change_stale_module``)."""
    (folder / "stale_flow.py").write_text(STALE.format(policy="OnError.CONTINUE"))
    sys.path.insert(0, str(folder))
    try:
        import stale_flow

        return render(stale_flow.flow, store=str(folder / "store"))
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("stale_flow", None)


def change_stale_module(folder: Path) -> None:
    (folder / "stale_flow.py").write_text(STALE.format(policy="OnError.STOP"))
