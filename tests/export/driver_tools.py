"""Shared by the orchestrator drivers (``run_airflow.py``, ``run_dagster.py``,
``run_prefect.py``), which run in the orchestrators' venvs: nothing here imports
SynaFlow or an orchestrator."""
import importlib.util
import json
import sys


def chain(exc) -> str:
    """An exception and its causes, as ``Class: message`` lines."""
    lines = []
    while exc is not None:
        lines.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(lines)


def report(**fields) -> None:
    """One result line for the test that started the driver."""
    print(json.dumps(fields), flush=True)


def generated():
    """``(spec, module)`` for each job listed in the file ``sys.argv[1]``, its generated
    file loaded; a file that does not load (stale, broken) is reported, not run."""
    for n, spec in enumerate(json.load(open(sys.argv[1]))):
        loaded = importlib.util.spec_from_file_location(f"generated_{n}", spec["file"])
        try:
            module = importlib.util.module_from_spec(loaded)
            loaded.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            report(load_error=chain(exc))
            continue
        yield spec, module
