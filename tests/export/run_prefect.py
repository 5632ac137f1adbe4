"""Runs generated Prefect files under Prefect, in Prefect's venv, all in one process
with one ephemeral Prefect server (``prefect_test_harness``; it can take over 20 s to
start on a busy machine, PrefectHQ/prefect#16397): ``python run_prefect.py
FLOWS.json`` where the file lists ``{"file", "name", "params"}``; prints one JSON line
per flow (run id, success, the failure with its causes)."""
import os

# Before Prefect is imported: no analytics, nothing written under $HOME, quiet logs.
os.environ.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
                  PREFECT_HOME=os.path.join(os.getcwd(), ".prefect"),
                  PREFECT_LOGGING_LEVEL="WARNING")

from driver_tools import chain, generated, report  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402


def main() -> None:
    with prefect_test_harness(server_startup_timeout=180):
        for spec, module in generated():
            state = getattr(module, spec["name"])(**spec["params"], return_state=True)
            outcome = state.result(raise_on_failure=False)
            if state.is_completed():
                report(run_id=outcome, success=True)
            else:
                report(success=False, failure=chain(outcome)
                       if isinstance(outcome, BaseException) else str(state))


if __name__ == "__main__":
    main()
