"""Speed of this checkout against an earlier commit, side by side in one run.

A refactor must not cost speed (issue 27: every figure of bench_local, bench_ray and
bench_objects within 10% of the commit before the series). This script checks out
``--base`` into a temporary git worktree and runs each benchmark script of both trees
in turn, round after round (base, ours, base, ours...), so load on the machine hits
both alike. Each side imports its own tree's ``synaflow`` (``PYTHONPATH``, which Ray's
workers inherit). The ``SUMMARY`` lines the scripts print are compared figure by
figure; a figure is the best over the rounds (lowest for times, highest for rates).

    RAY_AUTH_MODE=disabled python benchmarks/compare_commits.py --base d3a75c9 \\
        --rounds 2 local ray objects -- --quick

Verdicts cover SynaFlow's own figures (not raw Ray, Ray Data, 0.32.4 or the plain
floor): ``ok`` within ``--tolerance`` (default 10%), else ``SLOWER`` or ``faster``.
Always exits 0: a report, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Figures that are not SynaFlow's own: other systems, or the hand-written floor.
OTHERS = ("ref/", "raw", "plain", "ray_data", "pickled", "ratio/")
LOWER_IS_BETTER = {"ms", "us", "s", "wall", "cpu"}  # words of a figure's name
HIGHER_IS_BETTER = ("speedup", "gb_s", "items_per_s", "throughput")


def flatten(data: dict, prefix: str = "") -> dict[str, float]:
    """``{"w1/ours/sync": {"wall": 1.0}}`` -> ``{"w1/ours/sync/wall": 1.0}`` (numbers only)."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def direction(name: str) -> int:
    """-1: lower is better (times); +1: higher is better (rates); 0: reported only."""
    last = name.rsplit("/", 1)[-1]
    if any(word in last for word in HIGHER_IS_BETTER):
        return 1
    if LOWER_IS_BETTER & set(last.split("_")):
        return -1
    return 0


def run_once(tree: Path, bench: str, args: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), RAY_AUTH_MODE="disabled")
    script = tree / "benchmarks" / f"bench_{bench}.py"
    proc = subprocess.run([sys.executable, str(script), *args], env=env, cwd=tree,
                          capture_output=True, text=True, timeout=3600)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("SUMMARY "):
            return flatten(json.loads(line[len("SUMMARY "):]))
    raise RuntimeError(f"bench_{bench}.py in {tree} printed no SUMMARY (exit "
                       f"{proc.returncode}):\n{proc.stderr[-2000:]}")


def best(runs: list[dict[str, float]], name: str) -> float | None:
    values = [r[name] for r in runs if name in r]
    if not values:
        return None
    return max(values) if direction(name) > 0 else min(values)


def report(bench: str, base: list[dict], ours: list[dict], tolerance: float) -> int:
    """Print one benchmark's table; the number of SynaFlow figures slower than allowed."""
    print(f"\n== bench_{bench}: best of {len(ours)} round(s) each")
    print(f"{'figure':44} {'base':>12} {'ours':>12} {'ours/base':>10}  verdict")
    slower = 0
    for name in sorted(set().union(*base, *ours)):
        b, o = best(base, name), best(ours, name)
        verdict, ratio = "", ""
        if b and o is not None:
            ratio = f"{o / b:.3f}"
            sign = direction(name)
            if sign and not any(tag in name for tag in OTHERS):
                worse = (o / b - 1.0) * -sign  # > 0: ours is worse
                verdict = "ok" if worse <= tolerance else "SLOWER"
                verdict = "faster" if worse < -tolerance else verdict
                slower += verdict == "SLOWER"
        print(f"{name:44} {_fmt(b):>12} {_fmt(o):>12} {ratio:>10}  {verdict}")
    return slower


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("benches", nargs="*", default=["local", "ray", "objects"])
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if "local" in args.benches and not os.environ.get("SYNAFLOW_REF_PYTHON"):
        # both trees' bench_local use one 0.32.4 venv (this checkout's, made once)
        sys.path.insert(0, str(REPO / "benchmarks"))
        from _reference import reference_python

        os.environ["SYNAFLOW_REF_PYTHON"] = reference_python()
    with tempfile.TemporaryDirectory(prefix="synaflow-base-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree),
                        args.base], check=True)
        try:
            slower = 0
            for bench in args.benches:
                base_runs, our_runs = [], []
                for _ in range(args.rounds):
                    base_runs.append(run_once(tree, bench, extra))
                    our_runs.append(run_once(REPO, bench, extra))
                slower += report(bench, base_runs, our_runs, args.tolerance)
            print(f"\n{'PASS' if slower == 0 else 'FAIL'}  SynaFlow's figures within "
                  f"{args.tolerance:.0%} of {args.base}: {slower} slower")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           check=False)


if __name__ == "__main__":
    main()
