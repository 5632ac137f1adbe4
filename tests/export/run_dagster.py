"""Runs generated Dagster files under Dagster, in Dagster's venv (``execute_in_process``,
no server): ``python run_dagster.py JOBS.json`` where the file lists
``{"file", "name", "params"}``; prints one JSON line per job (run id, success, the
first failure with its causes)."""
import importlib.util
import json
import sys


def _chain(error) -> str:
    """An error and its causes, as ``Class: message`` lines."""
    lines = []
    while error is not None:
        lines.append(f"{error.cls_name}: {error.message.strip()}")
        error = error.cause
    return "\n".join(lines)


def main() -> None:
    for n, spec in enumerate(json.load(open(sys.argv[1]))):
        loaded = importlib.util.spec_from_file_location(f"generated_{n}", spec["file"])
        try:
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        except Exception as exc:  # a stale or broken file: reported, not run
            print(json.dumps({"load_error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        try:
            result = module.defs.get_job_def(spec["name"]).execute_in_process(
                run_config={"ops": {"synaflow_params": {"config": spec["params"]}}},
                raise_on_error=False)
        except Exception as exc:  # Dagster refuses the run config before any op runs
            print(json.dumps({"config_error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        failures = [_chain(e.event_specific_data.error) for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        print(json.dumps({"run_id": result.run_id, "success": result.success,
                          "failure": failures[0] if failures else None}), flush=True)


if __name__ == "__main__":
    main()
