"""Runs generated Airflow files under Airflow 3, in Airflow's venv, all in one process:
``python run_airflow.py DAGS.json`` where the file lists ``{"file", "name",
"params"}``. Run it with ``AIRFLOW_HOME`` set to a folder whose database is migrated
(``airflow db migrate``) and whose dags folder holds the files, serialized
(``airflow dags reserialize``); each DAG then runs as ``airflow dags test`` runs it
(``dag.test``). Prints one JSON line per DAG (run id, success, the failure)."""
import importlib.util
import json
import sys

from driver_tools import chain


def main() -> None:
    specs = json.load(open(sys.argv[1]))
    for n, spec in enumerate(specs):
        loaded = importlib.util.spec_from_file_location(f"generated_{n}", spec["file"])
        try:
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        except Exception as exc:  # a stale or broken file: reported, not run
            print(json.dumps({"load_error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        errors = []
        for task in module.dag.tasks:  # what failed, with its causes (tasks keep only a state)
            task.on_failure_callback = [lambda context: errors.append(chain(
                context.get("exception")))]
        try:
            run = module.dag.test(run_conf=spec["params"])
        except Exception as exc:  # Airflow refuses the params before the run starts
            print(json.dumps({"params_error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        failures = [f"{ti.task_id}: {ti.state}" for ti in run.get_task_instances()
                    if ti.state != "success"] + errors
        print(json.dumps({"run_id": run.run_id, "success": run.state == "success",
                          "failure": "; ".join(failures) or None}), flush=True)


if __name__ == "__main__":
    main()
