"""Build time side by side: define + compile a generated 500-step pipeline.

    python benchmarks/bench_compile.py                   # 500 steps, median of 5
    python benchmarks/bench_compile.py --sizes 100,500,1000 --rounds 2

The workload (``_wl_compile.py``) runs unchanged in the reference interpreter and in ours.
Ours compiles and validates inside ``pipeline(...)``; 0.32.4 compiles in ``build_dag``, reached
through ``PipelineRegistry().add(p)`` + ``get_dag``.  The headline compares each side's
compiling call, and the "total" row (step() calls + pipeline() + registry) compares the whole
definition-to-Dag path, which is identical code on both sides.

Target: ours "well under a second" for 500 steps.  Prints PASS/FAIL, always exits 0.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _reference as R  # noqa: E402

WORKLOAD = "_wl_compile.py"
TARGET_S = 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500", help="comma-separated step counts")
    ap.add_argument("--repeat", type=int, default=5, help="timed builds per subprocess")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved subprocess rounds")
    ap.add_argument("--quick", action="store_true", help="median of 3 instead of 5")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat = 3
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    ref, ours = R.reference_interpreter(), R.ours_interpreter()
    print(f"reference: {ref.python}\nours:      {ours.python} (repo {R.REPO_ROOT})")
    jobs = []
    for size in sizes:
        wl_args = ["--steps", str(size), "--repeat", str(args.repeat)]
        jobs += [(f"{size}/ref", ref, WORKLOAD, wl_args), (f"{size}/ours", ours, WORKLOAD, wl_args)]
    results = R.interleaved(jobs, args.rounds)

    verdicts = []
    for size in sizes:
        sides = {}
        for side in ("ref", "ours"):
            records = results[f"{size}/{side}"]
            errors = [r for r in records if "error" in r]
            good = [r for r in records if "error" not in r]
            if not good:
                sides[side] = {"error": errors[-1]["error"] if errors else "no output"}
                continue
            phases = {k: statistics.median(v for r in good for v in r["samples"][k])
                      for k in ("steps", "pipeline", "registry", "total", "total_cpu")}
            phases["ok"] = all(r.get("ok") for r in good)
            phases["count"] = sum(len(r["samples"]["total"]) for r in good)
            sides[side] = phases
        ref_s, ours_s = sides["ref"], sides["ours"]

        def ms(side: dict, key: str) -> float | None:
            return side[key] * 1e3 if key in side else None

        print(f"\n== Build time, {size} steps (median of {ours_s.get('count', '?')} builds; ms)\n")
        rows = [
            ["step() calls", ms(ref_s, "steps"), ms(ours_s, "steps"),
             R.ratio(ref_s.get("steps"), ours_s.get("steps"))],
            ["pipeline(...)", ms(ref_s, "pipeline"), ms(ours_s, "pipeline"),
             R.ratio(ref_s.get("pipeline"), ours_s.get("pipeline"))],
            ["PipelineRegistry add+get_dag", ms(ref_s, "registry"), ms(ours_s, "registry"),
             R.ratio(ref_s.get("registry"), ours_s.get("registry"))],
            ["total: definition -> Dag", ms(ref_s, "total"), ms(ours_s, "total"),
             R.ratio(ref_s.get("total"), ours_s.get("total"))],
            ["total, CPU time", ms(ref_s, "total_cpu"), ms(ours_s, "total_cpu"),
             R.ratio(ref_s.get("total_cpu"), ours_s.get("total_cpu"))],
        ]
        R.print_table(["phase", "reference", "ours", "ref/ours"], rows)
        ref_compile, ours_compile = ref_s.get("registry"), ours_s.get("pipeline")
        if ref_compile and ours_compile:
            print(f"\n   compiling call: reference add+get_dag {ref_compile * 1e3:.1f} ms, ours "
                  f"pipeline() {ours_compile * 1e3:.1f} ms -> ref/ours "
                  f"{R.ratio(ref_compile, ours_compile)}")
        for side, data in sides.items():
            if "error" in data:
                print(f"   {side}: error: {data['error']}")
            elif not data["ok"]:
                print(f"   {side}: WRONG RESULT from the compiled Dag")
        if size == 500:
            total = ours_s.get("total")
            verdicts.append((f"ours builds 500 steps well under a second (< {TARGET_S:g} s)",
                             None if total is None else total < TARGET_S))

    if verdicts:
        print("\n== Targets")
        for label, ok in verdicts:
            print(f"   {R.verdict(ok):4}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
