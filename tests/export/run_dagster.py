"""Runs generated Dagster files under Dagster, in Dagster's venv (``execute_in_process``,
no server): ``python run_dagster.py JOBS.json`` where the file lists
``{"file", "name", "params"}``; prints one JSON line per job (run id, success, the
first failure with its causes)."""
from driver_tools import generated, report


def _chain(error) -> str:
    """A Dagster error and its causes, as ``Class: message`` lines."""
    lines = []
    while error is not None:
        lines.append(f"{error.cls_name}: {error.message.strip()}")
        error = error.cause
    return "\n".join(lines)


def main() -> None:
    for spec, module in generated():
        try:
            result = module.defs.get_job_def(spec["name"]).execute_in_process(
                run_config={"ops": {"synaflow_params": {"config": spec["params"]}}},
                raise_on_error=False)
        except Exception as exc:  # Dagster refuses the run config before any op runs
            report(config_error=f"{type(exc).__name__}: {exc}")
            continue
        failures = [_chain(e.event_specific_data.error) for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        report(run_id=result.run_id, success=result.success,
               failure=failures[0] if failures else None)


if __name__ == "__main__":
    main()
