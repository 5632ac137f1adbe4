"""Shared helpers for the side-by-side benchmarks (stdlib only).

Two halves:

* the *driver* side (``bench_*.py``): find the reference interpreter (SynaFlow 0.32.4 in a
  separate virtualenv), run one workload script in it and in the current interpreter as
  subprocesses, interleave rounds so both see the same machine load, print a table with ratios;
* the *workload* side (``_wl_*.py``, run in either interpreter): ``emit`` one JSON line of
  figures, read the resident set size, say which SynaFlow was imported.

The reference interpreter is ``$SYNAFLOW_REF_PYTHON`` when set, else ``benchmarks/.ref-venv``
(created on first use with ``python -m venv`` + ``pip install synaflow==0.32.4``).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REF_VERSION = "0.32.4"
REF_VENV_DIR = BENCH_DIR / ".ref-venv"
REF_ENV_VAR = "SYNAFLOW_REF_PYTHON"


# --------------------------------------------------------------------------- interpreters


@dataclass(frozen=True)
class Interpreter:
    """A Python executable plus the environment its workload subprocesses get."""

    label: str
    python: str
    env: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def _ensure_gitignore() -> None:
    gitignore = BENCH_DIR / ".gitignore"
    line = ".ref-venv/"
    existing = gitignore.read_text().splitlines() if gitignore.exists() else []
    if line not in existing:
        with gitignore.open("a") as fh:
            fh.write(line + "\n")


def create_reference_venv(venv_dir: Path = REF_VENV_DIR) -> Path:
    """Create ``venv_dir`` and install the reference SynaFlow from PyPI into it."""
    _ensure_gitignore()
    print(f"[bench] creating reference venv {venv_dir} (synaflow=={REF_VERSION}) ...",
          file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)
    python = _venv_python(venv_dir)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                    f"synaflow=={REF_VERSION}"], check=True, cwd=str(venv_dir))
    return python


def reference_python(*, create: bool = True, venv_dir: Path = REF_VENV_DIR) -> str:
    """Path of the reference interpreter: ``$SYNAFLOW_REF_PYTHON`` or ``benchmarks/.ref-venv``."""
    from_env = os.environ.get(REF_ENV_VAR)
    if from_env:
        return from_env
    python = _venv_python(venv_dir)
    if not python.exists():
        if not create:
            raise FileNotFoundError(f"no reference venv at {venv_dir}; set {REF_ENV_VAR}")
        python = create_reference_venv(venv_dir)
    return str(python)


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def reference_interpreter() -> Interpreter:
    # No PYTHONPATH, so the repository's own ``synaflow`` can never shadow 0.32.4.
    return Interpreter("reference 0.32.4", reference_python(), _clean_env())


def ours_interpreter() -> Interpreter:
    env = _clean_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    return Interpreter("ours", sys.executable, env)


# --------------------------------------------------------------------------- running workloads


def run_workload(interp: Interpreter, script: str | Path, args: Sequence[str] = (),
                 *, timeout: float | None = 900) -> list[dict[str, Any]]:
    """Run ``script`` under ``interp``; return its JSON lines (``{"error": ...}`` on failure)."""
    script = Path(script)
    if not script.is_absolute():
        script = BENCH_DIR / script
    cmd = [interp.python, str(script), *args]
    try:
        proc = subprocess.run(cmd, env=interp.env or None, cwd=str(BENCH_DIR),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"error": f"timeout after {timeout}s", "interpreter": interp.label}]
    records = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-6:]
        records.append({"error": " | ".join(tail) or f"exit code {proc.returncode}",
                        "interpreter": interp.label})
    for record in records:
        record.setdefault("interpreter", interp.label)
        _check_identity(interp, record)
    return records


def _check_identity(interp: Interpreter, record: dict[str, Any]) -> None:
    """Flag a run that imported the wrong SynaFlow (e.g. the repo's copy in the reference venv)."""
    path = record.get("synaflow_file")
    if not path:
        return
    # The repo's own package (not just "inside the repo": benchmarks/.ref-venv is there too).
    inside_repo = Path(path).resolve().is_relative_to(REPO_ROOT / "synaflow")
    if interp.label.startswith("reference") and inside_repo:
        record["error"] = f"reference run imported the repository's synaflow ({path})"
    if interp.label == "ours" and not inside_repo:
        record["warning"] = f"'ours' imported synaflow from outside the repo ({path})"


def interleaved(jobs: Sequence[tuple[str, Interpreter, str, Sequence[str]]],
                rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Run every job once per round, jobs interleaved; all records per job key.

    Interleaving (ref, ours, ref, ours, ...) spreads machine noise from concurrent work
    evenly over both sides, so the ratios stay meaningful on a shared box.
    """
    out: dict[str, list[dict[str, Any]]] = {key: [] for key, *_ in jobs}
    for r in range(rounds):
        for key, interp, script, args in jobs:
            print(f"[bench] round {r + 1}/{rounds}: {key}", file=sys.stderr, flush=True)
            out[key].extend(run_workload(interp, script, args))
    return out


def best(records: Iterable[dict[str, Any]], key: str = "best_s") -> dict[str, Any] | None:
    """The record with the smallest ``key`` (the error record if every run failed)."""
    records = list(records)
    good = [r for r in records if "error" not in r and key in r]
    if good:
        return min(good, key=lambda r: r[key])
    return records[-1] if records else None


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# --------------------------------------------------------------------------- printing


def ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


# --------------------------------------------------------------------------- workload side


def emit(**figures: Any) -> None:
    """Print one JSON line of figures (plus which SynaFlow and Python produced them)."""
    figures.setdefault("python", sys.version.split()[0])
    mod = sys.modules.get("synaflow")
    if mod is not None:
        figures.setdefault("synaflow_file", getattr(mod, "__file__", None))
        figures.setdefault("synaflow_version", _synaflow_version(mod))
    print(json.dumps(figures, default=str), flush=True)


def _synaflow_version(mod: Any) -> str | None:
    version = getattr(mod, "__version__", None)
    if version:
        return str(version)
    try:
        from importlib.metadata import version as dist_version
        return dist_version("synaflow")
    except Exception:  # noqa: BLE001 - a missing version is only cosmetic here
        return None


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``; 0 when unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far (``getrusage``; 0 when unavailable)."""
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
