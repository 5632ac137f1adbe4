"""Write ``docs/benchmarks.md`` from runs of the scripts in ``benchmarks/``.

    python docs/gen_benchmarks.py --run --quick        # run every bench_*.py, then write the page
    python docs/gen_benchmarks.py --run local compile  # only benchmarks whose name has a word
    python docs/gen_benchmarks.py                      # rewrite the page from the saved runs

Each run is saved as ``docs/_benchmarks/<script>.json`` (command, date, machine, exit
code, full output), so the page can be regenerated, reviewed in a diff, and traced back
to the exact run that produced every figure. The page shows each benchmark's own
tables unchanged, with the verdict lines (``PASS``/``FAIL``) and the ``SUMMARY`` figures
the scripts print pulled up into an overview. Nothing is measured here: the figures are
whatever the benchmark scripts printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
BENCH_DIR = REPO / "benchmarks"
SAVED = DOCS / "_benchmarks"
PAGE = DOCS / "benchmarks.md"
_VERDICT = re.compile(r"^\s*(PASS|FAIL|n/a|N/A|SKIP)\s+(.*\S)\s*$")
_SUMMARY = re.compile(r"^SUMMARY\s+(\{.*\})\s*$")


def machine() -> dict[str, Any]:
    """What the figures depend on: interpreter, OS, processor count and memory."""
    info: dict[str, Any] = {"python": platform.python_version(),
                            "implementation": platform.python_implementation(),
                            "platform": platform.platform(terse=True),
                            "cpus": os.cpu_count()}
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def accepts(script: Path, option: str) -> bool:
    """Whether the script's ``--help`` lists ``option`` (not every benchmark has --quick)."""
    try:
        proc = subprocess.run([sys.executable, script.name, "--help"], cwd=BENCH_DIR,
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", proc.stdout) is not None


def run_one(script: Path, extra: list[str], timeout: float) -> dict[str, Any]:
    """Run one benchmark script as ``python <script> <extra>`` and record everything."""
    cmd = [sys.executable, script.name, *extra]
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    print(f"[gen_benchmarks] running {' '.join(['python', *cmd[1:]])} ...", file=sys.stderr,
          flush=True)
    try:
        proc = subprocess.run(cmd, cwd=BENCH_DIR, capture_output=True, text=True,
                              timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout:.0f} s"
    return {"script": f"benchmarks/{script.name}", "args": extra,
            "started_utc": started.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - t0, 1), "exit_code": code,
            "machine": machine(), "stdout": out, "stderr_tail": err[-3000:]}


def save(record: dict[str, Any]) -> Path:
    SAVED.mkdir(exist_ok=True)
    path = SAVED / (Path(record["script"]).stem + ".json")
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_saved() -> list[dict[str, Any]]:
    if not SAVED.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(SAVED.glob("*.json"))]


def verdicts(stdout: str) -> list[tuple[str, str]]:
    """The ``PASS``/``FAIL`` lines a benchmark prints under its "Targets" heading."""
    found, in_targets = [], False
    for line in stdout.splitlines():
        if line.startswith("=="):
            in_targets = "Target" in line
            continue
        match = _VERDICT.match(line)
        if match and in_targets:
            found.append((match[1], match[2]))
    return found


def summaries(stdout: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in stdout.splitlines():
        match = _SUMMARY.match(line)
        if match:
            try:
                out.update(json.loads(match[1]))
            except json.JSONDecodeError:
                pass
    return out


def _fence(text: str) -> str:
    """A ``text`` code block that no line of ``text`` can close early."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}text\n{text.rstrip()}\n{ticks}"


def _title(record: dict[str, Any]) -> str:
    return Path(record["script"]).stem.removeprefix("bench_").replace("_", " ")


def _describe(record: dict[str, Any]) -> str:
    m = record.get("machine", {})
    memory = f", {m['memory_gib']} GiB" if "memory_gib" in m else ""
    cmd = " ".join(["python", record["script"], *record.get("args", [])])
    status = ("timed out" if record.get("exit_code") is None
              else f"exit code {record['exit_code']}")
    return (f"`{cmd}` — run {record['started_utc'][:19].replace('T', ' ')} UTC, "
            f"{record['duration_s']:.0f} s, {status}; CPython {m.get('python', '?')} on "
            f"{m.get('platform', '?')}, {m.get('cpus', '?')} CPUs{memory}.")


def render(records: list[dict[str, Any]]) -> str:
    """The whole page, from saved runs only (deterministic for the same inputs)."""
    lines = ["# Benchmarks", "",
             "<!-- Generated by docs/gen_benchmarks.py from docs/_benchmarks/*.json: "
             "do not edit by hand. -->", ""]
    if not records:
        lines += ["No benchmark run has been recorded yet. Run "
                  "`python docs/gen_benchmarks.py --run --quick` to record one.", ""]
        return "\n".join(lines)
    dates = sorted(r["started_utc"][:10] for r in records)
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    lines += [
        f"Every figure on this page was printed by the scripts in `benchmarks/`, run on "
        f"**{span}**, and copied here unchanged by `docs/gen_benchmarks.py` (the raw "
        "runs are kept in `docs/_benchmarks/`). They compare SynaFlow with the reference "
        "SynaFlow 0.32.4 (installed in a separate virtual environment) or with "
        "hand-written code doing the same work (a plain generator chain, plain pyarrow), "
        "on the same machine, alternating the runs so that both sides see the same "
        "load.", "",
        "Absolute times depend on the machine and on what else it was doing; the ratios "
        "between the columns are the meaningful part. To reproduce:", "",
        "```bash",
        "python benchmarks/run_all.py -- --quick    # every benchmark, fewer rounds",
        "python docs/gen_benchmarks.py --run --quick  # the same, and rewrite this page",
        "```", ""]
    rows = [(_title(r), kind, text) for r in records for kind, text in verdicts(r["stdout"])]
    if rows:
        lines += ["## Targets", "", "| Benchmark | Verdict | Target |", "|---|---|---|"]
        lines += [f"| {b} | {k} "
                  f"| {t.replace('|', '/')} |" for b, k, t in rows]
        lines.append("")
    for record in records:
        lines += [f"## {_title(record).capitalize()}", "", _describe(record), ""]
        doc = _script_summary(record["script"])
        if doc:
            lines += [doc, ""]
        if record["stdout"].strip():
            lines += [_fence(record["stdout"]), ""]
        if record.get("exit_code") != 0 and record.get("stderr_tail"):
            lines += ["The run did not finish cleanly; the end of its error output:", "",
                      _fence(record["stderr_tail"]), ""]
    return "\n".join(lines)


def _script_summary(script: str) -> str:
    """The first paragraph of the benchmark script's docstring, if it can be read."""
    path = REPO / script
    try:
        source = path.read_text()
    except OSError:
        return ""
    match = re.match(r'\s*(?:#.*\n\s*)*(?:"""|\'\'\')(.*?)(?:"""|\'\'\')', source, re.S)
    if not match:
        return ""
    return match[1].strip().split("\n\n")[0].replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("words", nargs="*", help="only benchmarks whose name contains a word")
    ap.add_argument("--run", action="store_true", help="run the benchmarks first")
    ap.add_argument("--quick", action="store_true",
                    help="pass --quick to each benchmark that has it")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = ap.parse_args(argv)
    if args.run:
        scripts = sorted(BENCH_DIR.glob("bench_*.py"))
        if args.words:
            scripts = [s for s in scripts if any(w in s.stem for w in args.words)]
        for script in scripts:
            extra = ["--quick"] if args.quick and accepts(script, "--quick") else []
            path = save(run_one(script, extra, args.timeout))
            print(f"[gen_benchmarks] saved {path.relative_to(REPO)}", file=sys.stderr)
    PAGE.write_text(render(load_saved()))
    print(f"[gen_benchmarks] wrote {PAGE.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
