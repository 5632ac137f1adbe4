"""Runs generated Prefect files under Prefect, in Prefect's venv, all in one process
with one ephemeral Prefect server (``prefect_test_harness``; it can take over 20 s to
start on a busy machine, PrefectHQ/prefect#16397): ``python run_prefect.py
FLOWS.json`` where the file lists ``{"file", "name", "params"}``; prints one JSON line
per flow (run id, success, the failure with its causes)."""
import importlib.util
import json
import os
import sys

# Before Prefect is imported: no analytics, nothing written under $HOME, quiet logs.
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                  PREFECT_HOME=os.path.join(os.getcwd(), ".prefect"),
                  PREFECT_LOGGING_LEVEL="WARNING")

from driver_tools import chain  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402


def main() -> None:
    specs = json.load(open(sys.argv[1]))
    with prefect_test_harness(server_startup_timeout=180):
        for n, spec in enumerate(specs):
            loaded = importlib.util.spec_from_file_location(f"generated_{n}", spec["file"])
            try:
                module = importlib.util.module_from_spec(loaded)
                loaded.loader.exec_module(module)
            except Exception as exc:  # a stale or broken file: reported, not run
                print(json.dumps({"load_error": chain(exc)}), flush=True)
                continue
            state = getattr(module, spec["name"])(**spec["params"], return_state=True)
            outcome = state.result(raise_on_failure=False)
            if state.is_completed():
                print(json.dumps({"run_id": outcome, "success": True}), flush=True)
            else:
                failure = chain(outcome) if isinstance(outcome, BaseException) else str(state)
                print(json.dumps({"success": False, "failure": failure}), flush=True)


if __name__ == "__main__":
    main()
