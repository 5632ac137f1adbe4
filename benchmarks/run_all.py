"""Run every ``benchmarks/bench_*.py`` in turn and show their output.

    python benchmarks/run_all.py                 # all benchmarks
    python benchmarks/run_all.py compile local   # only those whose name contains a word
    python benchmarks/run_all.py -- --quick      # pass options on to the benchmarks

Each benchmark runs in its own subprocess with the current interpreter; a failing one is
reported and the others still run.  An option after ``--`` is passed to a benchmark only if
its ``--help`` mentions it (not every benchmark has ``--quick``).  Exits 0 unless a
benchmark crashed (non-zero exit).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _accepted(script: Path, extra: list[str]) -> list[str]:
    """``extra`` minus the ``--options`` (and their values) that ``script --help`` lacks."""
    if not extra:
        return []
    help_text = subprocess.run([sys.executable, str(script), "--help"], cwd=str(BENCH_DIR),
                               capture_output=True, text=True).stdout
    kept: list[str] = []
    skipping = False
    for arg in extra:
        if arg.startswith("--"):
            skipping = arg.split("=", 1)[0] not in help_text
            if skipping:
                print(f"### {script.name}: no {arg} option, not passed", flush=True)
        if not skipping:
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(word in s.stem for word in argv)]
    failed = []
    for script in scripts:
        print(f"\n{'=' * 100}\n### {script.name}\n{'=' * 100}", flush=True)
        t0 = time.perf_counter()
        args = _accepted(script, extra)
        code = subprocess.call([sys.executable, str(script), *args], cwd=str(BENCH_DIR))
        print(f"\n### {script.name}: exit {code}, {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    print(f"\nran {len(scripts)} benchmark(s)" + (f"; crashed: {', '.join(failed)}" if failed
                                                   else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
