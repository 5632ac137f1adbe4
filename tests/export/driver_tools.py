"""Shared by the orchestrator drivers (``run_prefect.py``, ``run_airflow.py``), which
run in the orchestrators' venvs: nothing here imports SynaFlow or an orchestrator."""


def chain(exc) -> str:
    """An exception and its causes, as ``Class: message`` lines."""
    lines = []
    while exc is not None:
        lines.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(lines)
