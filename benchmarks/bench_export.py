"""Slices and their store (issue 25, item 7): what a slice boundary and a run_slice call cost.

    python benchmarks/bench_export.py           # 1 GiB table, ~1-2 min on 2 cores
    python benchmarks/bench_export.py --quick   # 256 MiB table, one round

Side by side, in one run of this script, in one temporary folder:

* **Arrow boundary.** A 1 GiB Arrow table crosses a slice boundary: the producer's
  slice writes it to the store (``Store.write``: Arrow IPC, a temporary name, then a
  rename) and the consumer's slice reads it (``Store.read``: memory-mapped). Baseline:
  pyarrow's own IPC file write (``pa.OSFile`` + ``ipc.new_file``) and memory-mapped
  read (``pa.memory_map`` + ``ipc.open_file().read_all()``) of the same table.
  Target: <= 1.2x the baseline.
* **Small objects boundary.** A list of 100,000 small dicts, the same way: the store
  (pickle, temporary name, rename) against a plain ``pickle.dump`` to a file and
  ``pickle.load`` from it. Target: <= 1.2x.
* **run_slice's fixed cost.** One call on a one-step contract given as JSON text and a
  store given as a path (contract load, params check, store open, run, manifest), no
  data to speak of: the median of 50 calls. Target: <= 50 ms.

Both ends of each boundary are also timed end to end, as two ``run_slice`` calls
(producer slice, consumer slice), for information. SynaFlow 0.32.4 has no slices or
store, so the baselines here are pyarrow and pickle, as the issue names them. Figures
are the best of the rounds (other processes on the machine skew them); each round
drops the files it wrote and starts after an ``os.sync()``, so no earlier write is
still being flushed while it is timed. Prints PASS/FAIL per target and a SUMMARY line; exits 0.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import shutil
import statistics
import tempfile
import time
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from synaflow import pipeline, step
from synaflow.export import Store, run_slice

GIB = 1 << 30
SUMMARY: dict[str, float] = {}
VERDICTS: list[str] = []
_SHARED: dict[str, object] = {}  # the data the producer steps hand over (made once)


class Nothing(NamedTuple):
    tag: str = "x"


def produce(tag: str) -> object:
    return _SHARED["value"]


def consume(produce: object) -> int:
    return len(produce)


def one(tag: str) -> str:
    return tag


def _boundary_pipeline():
    return pipeline(name="boundary", params=Nothing,
                    steps=[step("produce", fn=produce), step("consume", fn=consume)])


def _table(nbytes: int) -> pa.Table:
    rows = nbytes // (8 * 4)
    return pa.table({f"c{i}": np.arange(i, i + rows, dtype=np.int64) for i in range(4)})


def _best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        os.sync()  # no other writes waiting to be flushed while this one is timed
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _fresh(folder: str) -> str:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


# -- the Arrow boundary --------------------------------------------------------------------
def arrow_boundary(root: str, nbytes: int, rounds: int) -> None:
    table = _table(nbytes)
    size = table.nbytes
    raw_dir, store_dir = os.path.join(root, "raw"), os.path.join(root, "store")

    def raw() -> None:
        path = os.path.join(_fresh(raw_dir), "t.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write(table)
        back = pa.ipc.open_file(pa.memory_map(path)).read_all()
        assert back.num_rows == table.num_rows

    def ours() -> None:
        store = Store(_fresh(store_dir))
        store.write("r", "produce", table)
        back = store.read("r", "produce", consumer="consume")
        assert back.num_rows == table.num_rows

    _report(f"Arrow table of {size / GIB:.2f} GiB", raw, ours, rounds, size, "arrow",
            table)


# -- the small-objects boundary ------------------------------------------------------------
def dicts_boundary(root: str, items: int, rounds: int) -> None:
    rows = [{"id": i, "name": f"user-{i}", "score": i * 0.5} for i in range(items)]
    raw_dir, store_dir = os.path.join(root, "raw"), os.path.join(root, "store")

    def raw() -> None:
        path = os.path.join(_fresh(raw_dir), "rows.pickle")
        with open(path, "wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
        with open(path, "rb") as f:
            assert len(pickle.load(f)) == items

    def ours() -> None:
        store = Store(_fresh(store_dir))
        store.write("r", "produce", rows)
        assert len(store.read("r", "produce", consumer="consume")) == items

    _report(f"{items:,} small dicts", raw, ours, rounds, None, "dicts", rows)


def _report(what: str, raw, ours, rounds: int, size: int | None, key: str,
            value: object) -> None:
    raw_s, ours_s = float("inf"), float("inf")
    for _ in range(rounds):  # alternate, so both meet the same machine
        raw_s = min(raw_s, _best(raw, 1))
        ours_s = min(ours_s, _best(ours, 1))
    ratio = ours_s / raw_s
    rate = f", {size / GIB / ours_s:.2f} GiB/s" if size else ""
    print(f"\n{what}")
    print(f"  baseline (pyarrow / pickle)    {raw_s * 1000:9.1f} ms")
    print(f"  store write + read             {ours_s * 1000:9.1f} ms{rate}")
    print(f"  ratio {ratio:.2f}x")
    _verdict(ratio <= 1.2, f"{what} across a slice boundary {ratio:.2f}x the baseline "
                           "(target <= 1.2x)")
    SUMMARY[f"{key}_ratio"] = round(ratio, 3)
    end_to_end = min(_two_slices(value) for _ in range(rounds))
    print(f"  end to end, two run_slice calls {end_to_end * 1000:8.1f} ms (for information)")
    SUMMARY[f"{key}_two_slices_ms"] = round(end_to_end * 1000, 1)


def _two_slices(value: object) -> float:
    _SHARED["value"] = value
    p, folder = _boundary_pipeline(), tempfile.mkdtemp(prefix="bench-export-")
    try:
        os.sync()
        start = time.perf_counter()
        run_slice(p, ["produce"], Nothing(), store=folder, run_id="r")
        result = run_slice(p, ["consume"], Nothing(), store=folder, run_id="r")
        elapsed = time.perf_counter() - start
        assert result.outputs["consume"] == len(value)
        del result  # it maps the stored table: drop it (and the run it came from)
        gc.collect()  # before its file is deleted
        return elapsed
    finally:
        _SHARED.clear()
        shutil.rmtree(folder, ignore_errors=True)


# -- run_slice's fixed cost ------------------------------------------------------------------
def fixed_cost(root: str, calls: int) -> None:
    contract = pipeline(name="tiny", params=Nothing, steps=[step("one", fn=one)]).dag.to_json()
    folder = _fresh(os.path.join(root, "fixed"))
    run_slice(contract, ["one"], {"tag": "warm"}, store=folder, run_id="warm")
    times = []
    for i in range(calls):
        start = time.perf_counter()
        result = run_slice(contract, ["one"], {"tag": "t"}, store=folder, run_id=f"r{i}")
        times.append(time.perf_counter() - start)
        assert result.outputs == {"one": "t"}
    median = statistics.median(times)
    print(f"\nrun_slice fixed cost (JSON contract, path store, one step, {calls} calls)")
    print(f"  median {median * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    _verdict(median <= 0.05, f"run_slice fixed cost {median * 1000:.1f} ms (target <= 50 ms)")
    SUMMARY["run_slice_fixed_ms"] = round(median * 1000, 2)


def _verdict(ok: bool, text: str) -> None:
    VERDICTS.append(f"  {'PASS' if ok else 'FAIL'}: {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB table, one round")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    nbytes = GIB // 4 if args.quick else GIB
    root = tempfile.mkdtemp(prefix="bench-export-")
    try:
        arrow_boundary(root, nbytes, rounds)
        dicts_boundary(root, 100_000, rounds)
        fixed_cost(root, 10 if args.quick else 50)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\nsummary")
    print("\n".join(VERDICTS))
    print("SUMMARY " + json.dumps(SUMMARY, sort_keys=True))


if __name__ == "__main__":
    main()
