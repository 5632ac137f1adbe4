"""Local runners side by side: reference SynaFlow 0.32.4 vs ours vs a plain generator chain.

    python benchmarks/bench_local.py            # full run (~2-4 min on 2 cores)
    python benchmarks/bench_local.py --quick    # fewer rounds, M1 at 3M items

Workloads (defined once in ``_wl_local.py``, run unchanged in both interpreters):

* W1: ``numbers`` (generator) -> ``doubled`` (EACH, per item) -> ``total`` (ALL, sums);
* W2: ``a`` -> ``b`` (two chained ALL generator steps) -> ``total``;
* W1-async: W1 written with ``async def`` steps / ``AsyncIterator`` (both ``async_run``);
* M1: peak memory of a 10M-item W1 stream through our sync runner (RSS every 1M items).

Every timing is the best over ``rounds x repeat`` runs; the subprocesses of the two sides are
interleaved round by round so concurrent load hits both alike.  Prints PASS/FAIL per target and
always exits 0: this is a report, not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _reference as R  # noqa: E402

WORKLOAD = "_wl_local.py"
FIXED = "#fixed"

# Targets (from the issue).
W1_REF_NOMINAL_US = 7.6
W1_SYNC_TARGET_US = 1.0
W1_ASYNC_MAX_RATIO = 3.0
W2_REF_NOMINAL_US = 5.6
W2_SYNC_TARGET_US = 0.3
W2_FLOOR_NOMINAL_US = 0.05
M1_FLAT_BYTES = 5 * 1024 * 1024


def _args(case: str, runner: str, n: int, repeat: int) -> list[str]:
    return ["--case", case, "--runner", runner, "--n", str(n), "--repeat", str(repeat)]


def timing_jobs(ref: R.Interpreter, ours: R.Interpreter, n: int, ref_async_n: int,
                repeat: int) -> list[tuple[str, R.Interpreter, str, list[str]]]:
    jobs = []
    for case in ("w1", "w2"):
        jobs += [
            (f"{case}/ref/sync", ref, WORKLOAD, _args(case, "sync", n, repeat)),
            (f"{case}/ours/sync", ours, WORKLOAD, _args(case, "sync", n, repeat)),
            (f"{case}/ours/async", ours, WORKLOAD, _args(case, "async", n, repeat)),
            (f"{case}/plain", ours, WORKLOAD, _args(case, "plain", n, repeat)),
        ]
    jobs += [
        ("w1_async/ref/async", ref, WORKLOAD, _args("w1_async", "async", ref_async_n, repeat)),
        ("w1_async/ours/async", ours, WORKLOAD, _args("w1_async", "async", n, repeat)),
        ("w1_async/plain", ours, WORKLOAD, _args("w1_async", "plain", n, repeat)),
    ]
    # The same pipelines with a single item: the fixed cost of one run (setup, teardown).
    fixed = [(f"{key}{FIXED}", interp, script, [*args[:-4], "--n", "1", "--repeat", args[-1]])
             for key, interp, script, args in jobs if "/plain" not in key]
    return jobs + fixed


def _best_of(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if "error" not in r and key in r]
    return min(values) if values else None


def _note(record: dict | None) -> str:
    if record is None:
        return "not run"
    if "error" in record:
        return str(record["error"])[:110]
    notes = [f"n={record['n']:,}"]
    if not record.get("ok", True):
        notes.append("WRONG RESULT")
    if record.get("warning"):
        notes.append(record["warning"])
    return ", ".join(notes)


# (label, job key, reference job key, floor job key)
ROWS = [
    ("W1 reference run()", "w1/ref/sync", "w1/ref/sync", "w1/plain"),
    ("W1 ours run()", "w1/ours/sync", "w1/ref/sync", "w1/plain"),
    ("W1 ours async_run()", "w1/ours/async", "w1/ref/sync", "w1/plain"),
    ("W1 reference async_run()", None, None, None),
    ("W1 plain generator chain", "w1/plain", "w1/ref/sync", "w1/plain"),
    ("W2 reference run()", "w2/ref/sync", "w2/ref/sync", "w2/plain"),
    ("W2 ours run()", "w2/ours/sync", "w2/ref/sync", "w2/plain"),
    ("W2 ours async_run()", "w2/ours/async", "w2/ref/sync", "w2/plain"),
    ("W2 plain generator chain", "w2/plain", "w2/ref/sync", "w2/plain"),
    ("W1-async reference async_run()", "w1_async/ref/async", "w1_async/ref/async",
     "w1_async/plain"),
    ("W1-async ours async_run()", "w1_async/ours/async", "w1_async/ref/async", "w1_async/plain"),
    ("W1-async plain asyncio chain", "w1_async/plain", "w1_async/ref/async", "w1_async/plain"),
]


def report_timings(results: dict[str, list[dict]]) -> list[tuple[str, bool | None]]:
    got = {key: R.best(records) for key, records in results.items()}
    wall = {key: _best_of(records, "per_item_us") for key, records in results.items()}
    cpu = {key: _best_of(records, "cpu_per_item_us") for key, records in results.items()}
    verdicts: list[tuple[str, bool | None]] = []

    def le(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    def div(x: float | None, y: float | None) -> float | None:
        return x / y if x and y else None

    # key -> (target text, verdict label, check(figures) -> bool | None)
    targets = {
        "w1/ref/sync": (f"~{W1_REF_NOMINAL_US} (nominal)", None, None),
        "w1/ours/sync": (f"<= {W1_SYNC_TARGET_US}", f"W1 ours sync <= {W1_SYNC_TARGET_US} us/item",
                         lambda f: le(f["w1/ours/sync"], W1_SYNC_TARGET_US)),
        "w1/ours/async": (f"<= {W1_ASYNC_MAX_RATIO:g}x our sync",
                          f"W1 ours async within {W1_ASYNC_MAX_RATIO:g}x of our sync",
                          lambda f: le(div(f["w1/ours/async"], f["w1/ours/sync"]),
                                       W1_ASYNC_MAX_RATIO)),
        "w1/plain": ("floor", None, None),
        "w2/ref/sync": (f"~{W2_REF_NOMINAL_US} (nominal)", None, None),
        "w2/ours/sync": (f"<= {W2_SYNC_TARGET_US}", f"W2 ours sync <= {W2_SYNC_TARGET_US} us/item",
                         lambda f: le(f["w2/ours/sync"], W2_SYNC_TARGET_US)),
        "w2/plain": (f"floor ~{W2_FLOOR_NOMINAL_US}", None, None),
        "w1_async/plain": ("floor", None, None),
    }

    headers = ["workload / runner", "wall us/item", "cpu us/item", "ref/this", "this/floor",
               "fixed ms/run", "marginal us/item", "target", "wall", "cpu", "note"]
    rows = []
    for label, key, ref_key, floor_key in ROWS:
        if key is None:
            rows.append([label, None, None, "-", "-", None, None, "-", "-", "-",
                         "n/a: 0.32.4 async_run rejects sync (Iterator) streams"])
            continue
        value = wall.get(key)
        fixed_s = _best_of(results.get(key + FIXED, []), "best_s")
        best_s = _best_of(results[key], "best_s")
        marginal = None
        if best_s is not None and fixed_s is not None:
            marginal = (best_s - fixed_s) / got[key]["n"] * 1e6
        target, verdict_label, check = targets.get(key, ("(info)", None, None))
        wall_ok = cpu_ok = None
        if check is not None:
            wall_ok, cpu_ok = check(wall), check(cpu)
            verdicts.append((f"{verdict_label} [wall]", wall_ok))
            verdicts.append((f"{verdict_label} [cpu]", cpu_ok))
            if key == "w1/ours/async":
                target += "".join(f" ({name} {r:.2f}x)" for name, r in
                                  (("wall", div(wall[key], wall["w1/ours/sync"])),
                                   ("cpu", div(cpu[key], cpu["w1/ours/sync"]))) if r)
        rows.append([label, value, cpu.get(key), R.ratio(wall.get(ref_key), value),
                     R.ratio(value, wall.get(floor_key)),
                     fixed_s * 1e3 if fixed_s is not None else None, marginal, target,
                     R.verdict(wall_ok) if check else "-", R.verdict(cpu_ok) if check else "-",
                     _note(got.get(key))])

    print("\n== Local runners: microseconds per item (best of all runs; lower is better)")
    print("   wall = run time / n (fixed cost included), the targets' measure; cpu = process CPU "
          "time / n\n   (all threads; robust to other load on a shared box); ref/this = times "
          "faster than the\n   reference (wall); this/floor = times slower than the hand-written "
          "chain (wall);\n   fixed = one run with n=1; marginal = (best run - fixed) / n\n")
    R.print_table(headers, rows)
    ref1 = wall["w1/ref/sync"]
    if ref1:
        print(f"\n   machine check: reference W1 measured {ref1:.2f} us/item vs nominal "
              f"{W1_REF_NOMINAL_US} ({ref1 / W1_REF_NOMINAL_US:.2f}x); the absolute targets "
              "assume the nominal machine")
    summary = {key: {"wall": wall.get(key), "cpu": cpu.get(key)} for _, key, _, _ in ROWS if key}
    print("\nSUMMARY " + json.dumps(summary, default=str))
    return verdicts


def report_memory(interp: R.Interpreter, n: int, label: str,
                  check: bool) -> list[tuple[str, bool | None]]:
    args = ["--case", "w1", "--runner", "sync", "--curve", "--n", str(n)]
    print(f"\n[bench] M1 ({label}): {n:,} items through W1 with run() ...", file=sys.stderr,
          flush=True)
    records = R.run_workload(interp, WORKLOAD, args, timeout=3600)
    rec = records[-1] if records else {"error": "no output"}
    print(f"\n== M1 ({label}): RSS while streaming {n:,} items through W1 (sync runner)\n")
    if "error" in rec:
        print(f"   error: {rec['error']}")
        return [(f"M1 {label} flat", None)] if check else []
    mb = 1024 * 1024
    samples = rec["samples"]
    first = samples[0][1] if samples else 0
    R.print_table(["items", "RSS MB", "delta vs first MB"],
                  [[f"{items:,}", rss / mb, (rss - first) / mb] for items, rss in samples])
    print(f"\n   RSS before run {rec['rss_before'] / mb:.1f} MB, after {rec['rss_after'] / mb:.1f}"
          f" MB, peak (ru_maxrss) {rec['max_rss'] / mb:.1f} MB; {rec['per_item_us']:.3f} us/item"
          f"; result ok: {rec['ok']}")
    by_items = dict(samples)
    lo_key = 2 * 1_000_000 if 2 * 1_000_000 in by_items else (samples[0][0] if samples else None)
    if lo_key is None or len(samples) < 2:
        print("   not enough samples for a verdict")
        return [(f"M1 {label} flat", None)] if check else []
    growth = samples[-1][1] - by_items[lo_key]
    ok = growth < M1_FLAT_BYTES
    print(f"   growth {lo_key:,} -> {samples[-1][0]:,} items: {growth / mb:+.2f} MB "
          f"(flat = < {M1_FLAT_BYTES // mb} MB)" + (f": {R.verdict(ok)}" if check else ""))
    return [(f"M1 {label} flat (growth 2M->{samples[-1][0] // 1_000_000}M < 5 MB)", ok)] \
        if check else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="items per timed run")
    ap.add_argument("--ref-async-n", type=int, default=20_000,
                    help="items for 0.32.4's async_run (about 60-90 us/item)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved subprocess rounds")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per subprocess")
    ap.add_argument("--m1-n", type=int, default=10_000_000, help="items for M1")
    ap.add_argument("--skip-m1", action="store_true")
    ap.add_argument("--m1-reference", action="store_true",
                    help="also draw the reference's M1 curve (slow: ~8 us/item)")
    ap.add_argument("--quick", action="store_true", help="1 round, M1 at 3M items")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.m1_n = 1, 3_000_000

    ref, ours = R.reference_interpreter(), R.ours_interpreter()
    print(f"reference: {ref.python}\nours:      {ours.python} (repo {R.REPO_ROOT})")
    print(f"rounds={args.rounds} repeat={args.repeat} n={args.n:,} "
          f"ref_async_n={args.ref_async_n:,}")
    results = R.interleaved(timing_jobs(ref, ours, args.n, args.ref_async_n, args.repeat),
                            args.rounds)
    verdicts = report_timings(results)
    if not args.skip_m1:
        verdicts += report_memory(ours, args.m1_n, "ours", check=True)
        if args.m1_reference:
            report_memory(ref, args.m1_n, "reference 0.32.4", check=False)

    print("\n== Targets")
    for label, ok in verdicts:
        print(f"   {R.verdict(ok):4}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
