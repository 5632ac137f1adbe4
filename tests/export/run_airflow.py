"""Runs generated Airflow files under Airflow 3, in Airflow's venv, all in one process:
``python run_airflow.py DAGS.json`` where the file lists ``{"file", "name",
"params"}``. Run it with ``AIRFLOW_HOME`` set to a folder whose database is migrated
(``airflow db migrate``) and whose dags folder holds the files, serialized
(``airflow dags reserialize``); each DAG then runs as ``airflow dags test`` runs it
(``dag.test``). Prints one JSON line per DAG (run id, success, the failure)."""
from driver_tools import chain, generated, report


def main() -> None:
    for spec, module in generated():
        errors = []
        for task in module.dag.tasks:  # what failed, with its causes (tasks keep only a state)
            task.on_failure_callback = [lambda context: errors.append(chain(
                context.get("exception")))]
        try:
            run = module.dag.test(run_conf=spec["params"])
        except Exception as exc:  # Airflow refuses the params before the run starts
            report(params_error=f"{type(exc).__name__}: {exc}")
            continue
        failures = [f"{ti.task_id}: {ti.state}" for ti in run.get_task_instances()
                    if ti.state != "success"] + errors
        report(run_id=run.run_id, success=run.state == "success",
               failure="; ".join(failures) or None)


if __name__ == "__main__":
    main()
