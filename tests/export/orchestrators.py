"""One cached virtualenv per orchestrator, for the export tests (issue 26).

Airflow and Prefect cannot share a virtualenv (their fastapi pins clash), so each
orchestrator gets its own, made the first time a test needs it and kept under
``.cache/orchestrators/<name>`` (or ``$SYNAFLOW_ORCHESTRATOR_VENVS``). It holds the
orchestrator, what SynaFlow needs at run time (pyarrow, Ray for ``--runner ray``),
and this repository installed editable without dependencies. A venv whose recorded
requirements differ is made again. A venv that cannot be made fails the test that
asked for it, with pip's output: the export tests never skip.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SYNAFLOW_ORCHESTRATOR_VENVS", REPO / ".cache" / "orchestrators"))
_RUNTIME = ["pyarrow>=14", "inflect>=7.0", "ray>=2.40", "cloudpickle>=2.0"]
REQUIREMENTS = {
    "dagster": ["dagster==1.13.*", *_RUNTIME],
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


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"cannot {what} (exit {done.returncode}): {' '.join(command)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def python_for(name: str) -> Path:
    """The interpreter of orchestrator ``name``'s venv, made if needed."""
    folder = CACHE / name
    python = folder / "bin" / "python"
    stamp = folder / "synaflow-venv.txt"
    wanted = "\n".join([str(REPO), *REQUIREMENTS[name]])
    with _locked(CACHE / f"{name}.lock"):
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        if folder.exists():
            _run(["rm", "-rf", str(folder)], f"remove the stale {name} venv")
        _run([sys.executable, "-m", "venv", str(folder)], f"create the {name} venv")
        _run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS[name]],
             f"install {name} into its venv")
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)],
             f"install synaflow into the {name} venv")
        stamp.write_text(wanted)
    return python
