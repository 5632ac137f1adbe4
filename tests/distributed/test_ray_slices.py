"""run_slice with runner="ray" on a real Ray (issue 25, item 1): the EACH steps of a
slice run as Ray tasks, boundary outputs (a plain value, an Arrow table) go through
the store, and groups run in order give what run() gives."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
from ray import cloudpickle

from synaflow import pipeline, run, step
from synaflow.export import Store, groups, run_slice

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers lack test files


class P(NamedTuple):
    n: int = 6


def nums(n: int) -> Iterator[int]:
    yield from range(n)


def sq(nums: int) -> int:
    return nums * nums


def table(sq: list[int]) -> pa.Table:
    return pa.table({"sq": sq})


def total(table: pa.Table) -> int:
    return sum(table.column("sq").to_pylist())


def rows(table: pa.Table) -> int:
    return table.num_rows


def _p():
    return pipeline(name="ray_slices", params=P, steps=[
        step("nums", fn=nums), step("sq", fn=sq), step("table", fn=table),
        step("total", fn=total), step("rows", fn=rows)])


def test_ray_runs_the_groups_of_a_pipeline(ray_session, tmp_path):
    p, store = _p(), Store(tmp_path)
    found = groups(p.dag)
    assert len(found) > 1
    outputs = {}
    for group in found:
        result = run_slice(p, group, P(), store=store, run_id="r", runner="ray")
        outputs.update(result.outputs)
    assert outputs == dict(run(p, P()).outputs) == {"total": 55, "rows": 6}
    assert store.read("r", "table").equals(pa.table({"sq": [0, 1, 4, 9, 16, 25]}))
