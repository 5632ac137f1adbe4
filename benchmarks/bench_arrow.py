"""Arrow materializer vs plain pyarrow on a large Parquet output, and a pickle anti-baseline.

    python benchmarks/bench_arrow.py                 # 1 GiB of numeric columns
    python benchmarks/bench_arrow.py --size-mb 64    # quick

The data (float64 and int64 columns, random so nothing compresses away) is made
once, in batches of ``--batch-rows`` rows, then written and read back by:

* baseline: ``pyarrow.parquet.write_table`` / ``read_table`` on the same Table;
* ours: ``arrow_materializer(dir)`` called on the stream of batches (atomic write,
  fsync, row groups of 1 Mi rows like write_table), read back with
  ``ArrowDatasetRef.to_table()``; also ``durable=False`` (no fsync), ``to_batches()``
  (streaming) and the IPC format, for information;
* ours in a pipeline: the same through ``synaflow.run`` (the producer yields the
  batches; the sync engine collects them before the materializer writes);
* anti-baseline: a "bytes" materializer that pickles the Table to a file, and
  unpickles it to read back.

Every time is the best of ``--repeat`` runs; baseline and ours alternate round by
round (the median of the per-round ratios is printed too, the machine may be
shared). Target: ours / baseline <= 1.5 for
the write and for the read. Prints PASS/FAIL and always exits 0 (a report, not a
test). Checks free disk and memory first; removes every file it wrote.
"""
from __future__ import annotations

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from synaflow.core.types import MaterializeContext  # noqa: E402
from synaflow.materializers.arrow import arrow_materializer  # noqa: E402

TARGET_RATIO = 1.5
FLOAT_COLUMNS = 4
INT_COLUMNS = 4
ROW_BYTES = 8 * (FLOAT_COLUMNS + INT_COLUMNS)


def make_batches(size_mb: int, batch_rows: int) -> list[pa.RecordBatch]:
    """About ``size_mb`` MiB of random numeric columns, in batches."""
    rows_left = size_mb * 2**20 // ROW_BYTES
    batches = []
    while rows_left > 0:
        n = min(batch_rows, rows_left)
        columns = {f"f{i}": pc.random(n) for i in range(FLOAT_COLUMNS)}
        columns.update({f"i{i}": pc.cast(pc.floor(pc.multiply(pc.random(n), 2**40)), pa.int64())
                        for i in range(INT_COLUMNS)})
        batches.append(pa.record_batch(columns))
        rows_left -= n
    return batches


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        elapsed, result = timed(fn)
        best = min(best, elapsed)
    return best, result


def paired(repeat: int, base: Callable[[], Any], ours_fn: Callable[[], Any]) -> tuple:
    """Best times of both, interleaved (order alternating) so machine load hits both alike;
    also the median of the per-round ratios. Returns (base_s, ours_s, median, results)."""
    base_times, ours_times, results = [], [], (None, None)
    for round_ in range(repeat):
        order = (("b", base), ("o", ours_fn)) if round_ % 2 == 0 else \
            (("o", ours_fn), ("b", base))
        got = {}
        for key, fn in order:
            got[key] = timed(fn)
        base_times.append(got["b"][0])
        ours_times.append(got["o"][0])
        results = (got["b"][1], got["o"][1])
    ratios = sorted(o / b for o, b in zip(ours_times, base_times))
    return min(base_times), min(ours_times), ratios[len(ratios) // 2], results


# -- the contenders ---------------------------------------------------------------------------
def baseline_write(table: pa.Table, folder: str) -> str:
    path = os.path.join(folder, "baseline.parquet")
    pq.write_table(table, path)
    return path


def ours(folder: str, fmt: str = "parquet", batch_rows: int = 65536, durable: bool = True,
         ) -> Any:
    factory = arrow_materializer(folder, format=fmt, batch_rows=batch_rows, durable=durable,
                                 file_name=f"ours-{fmt}-{durable}.{fmt}")
    return factory(MaterializeContext("bench", "numbers", None))


def stream_rows(ref: Any) -> int:
    return sum(batch.num_rows for batch in ref.to_batches())


def pickle_write(table: pa.Table, folder: str) -> str:
    path = os.path.join(folder, "pickled.pkl")
    with open(path, "wb") as file:
        pickle.dump(table, file, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def pickle_read(path: str) -> pa.Table:
    with open(path, "rb") as file:
        return pickle.load(file)


class Params(NamedTuple):
    folder: str


_BATCHES: list[pa.RecordBatch] = []


def produce(folder: str) -> Iterator[pa.RecordBatch]:
    yield from _BATCHES




def through_pipeline(folder: str, batch_rows: int) -> float:
    from synaflow import pipeline, run, step

    p = pipeline(name="bench_arrow", params=Params, steps=[
        step("produce", fn=produce, force_materialize=True,
             materializer=arrow_materializer(folder, batch_rows=batch_rows)),
        step("count", fn=lambda produce: produce.num_rows)])
    started = time.perf_counter()
    result = run(p, Params(folder))
    elapsed = time.perf_counter() - started
    assert result.outputs["count"] == sum(b.num_rows for b in _BATCHES), result
    return elapsed


# -- checks and report ------------------------------------------------------------------------
def check_resources(folder: str, size_mb: int) -> None:
    free_disk = shutil.disk_usage(folder).free
    need_disk = 4 * size_mb * 2**20  # baseline + ours + ipc + pickle, at most
    if free_disk < need_disk + 2**30:
        sys.exit(f"not enough disk in {folder}: {free_disk / 2**30:.1f} GiB free, "
                 f"need {need_disk / 2**30:.1f} GiB")
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") \
        if hasattr(os, "sysconf") else None
    if pages is not None and pages < 5 * size_mb * 2**20:
        sys.exit(f"not enough free memory: {pages / 2**30:.1f} GiB, need about "
                 f"{5 * size_mb / 1024:.1f} GiB (data, read-backs and the pickle)")


def line(label: str, seconds: float, base: float | None = None) -> None:
    ratio = f"  ratio {seconds / base:5.2f}x" if base else ""
    print(f"  {label:<44} {seconds:8.3f} s{ratio}")


def verdict(label: str, ratio: float) -> None:
    status = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"  {status}: {label} {ratio:.2f}x (target <= {TARGET_RATIO}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--batch-rows", type=int, default=65536)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="synaflow-bench-arrow-", dir=args.dir)
    try:
        check_resources(folder, args.size_mb)
        run_all(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_all(folder: str, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    batches = make_batches(args.size_mb, args.batch_rows)
    table = pa.Table.from_batches(batches)
    _BATCHES[:] = batches
    print(f"data: {table.num_rows:,} rows x {table.num_columns} columns, "
          f"{table.nbytes / 2**20:,.0f} MiB in {len(batches)} batches "
          f"(made in {time.perf_counter() - started:.1f} s); pyarrow {pa.__version__}; "
          f"best of {args.repeat}")
    materialize = ours(folder, batch_rows=args.batch_rows)

    print("write")
    base_w, ours_w, write_median, (base_path, ref) = paired(
        args.repeat, lambda: baseline_write(table, folder), lambda: materialize(batches))
    line("pyarrow.parquet.write_table", base_w)
    line("arrow_materializer (parquet)", ours_w, base_w)
    fast = ours(folder, batch_rows=args.batch_rows, durable=False)
    fast_w, _ = best_of(args.repeat, lambda: fast(batches))
    line("arrow_materializer (parquet, durable=False)", fast_w, base_w)
    ipc_w, ipc_ref = best_of(args.repeat, lambda: ours(folder, "ipc", args.batch_rows)(batches))
    line("arrow_materializer (ipc)", ipc_w, base_w)
    pipe_w = min(through_pipeline(folder, args.batch_rows) for _ in range(args.repeat))
    line("synaflow.run + arrow_materializer (parquet)", pipe_w, base_w)
    pkl_w, pkl_path = best_of(args.repeat, lambda: pickle_write(table, folder))
    line("pickle materializer (anti-baseline)", pkl_w, base_w)
    print(f"  file sizes: parquet {os.path.getsize(base_path) / 2**20:,.0f} MiB (baseline), "
          f"{os.path.getsize(ref.path) / 2**20:,.0f} MiB (ours), "
          f"ipc {os.path.getsize(ipc_ref.path) / 2**20:,.0f} MiB, "
          f"pickle {os.path.getsize(pkl_path) / 2**20:,.0f} MiB")

    print("read back")
    check = ref.to_table()
    assert check.equals(pq.read_table(base_path)) and check.num_rows == table.num_rows
    del check
    base_r, ours_r, read_median, _ = paired(
        args.repeat, lambda: pq.read_table(base_path).num_rows,
        lambda: ref.to_table().num_rows)
    line("pyarrow.parquet.read_table", base_r)
    line("ArrowDatasetRef.to_table (parquet)", ours_r, base_r)
    stream_r, _ = best_of(args.repeat, lambda: stream_rows(ref))
    line("ArrowDatasetRef.to_batches (parquet, streamed)", stream_r, base_r)
    ipc_r, _ = best_of(args.repeat, lambda: ipc_ref.to_table().num_rows)
    line("ArrowDatasetRef.to_table (ipc, memory-mapped)", ipc_r, base_r)
    pkl_r, rows = best_of(args.repeat, lambda: pickle_read(pkl_path).num_rows)
    assert rows == table.num_rows
    line("pickle materializer read-back (anti-baseline)", pkl_r, base_r)

    print("summary (best-of ratio; median of per-round ratios in brackets)")
    verdict(f"write, arrow_materializer vs write_table [{write_median:.2f}x]", ours_w / base_w)
    verdict(f"read, ArrowDatasetRef.to_table vs read_table [{read_median:.2f}x]",
            ours_r / base_r)
    print(f"  anti-baseline: pickle read-back {pkl_r / base_r:.2f}x read_table, "
          f"pickle write {pkl_w / base_w:.2f}x write_table")


if __name__ == "__main__":
    main()
