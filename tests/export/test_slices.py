"""run_slice (issue 25, item 1): a slice runs with our engine, reads the outputs of
steps outside it from the store and writes what steps outside it read, plus every
terminal or exported output. Running the groups of every conformance case in order,
one slice each, gives what run() gives."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa
import pytest

from synaflow import OnError, PipelineDefinitionError, pipeline, run, step
from synaflow.export import Store, groups, run_slice
from synaflow.export.store import MissingInputError
from synaflow.testing import CASES, recorder


def _slices(case, tmp_path, runner="sync"):
    p = case.build()
    dag = getattr(p, "dag", p)
    if dag.requires_async_runner and runner == "sync":
        runner = "async"
    overrides = case.overrides(p) if case.overrides is not None else None
    store = Store(tmp_path)
    recorder.reset()
    outputs, statuses = {}, []
    for group in groups(dag):
        result = run_slice(p, group, case.params, store=store, run_id="r",
                           runner=runner, overrides=overrides)
        outputs.update(result.outputs)
        statuses.append(result.status)
    status = "succeeded" if all(s == "succeeded" for s in statuses) \
        else "completed_with_errors"
    return outputs, status, recorder.error_summary()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_groups_in_order_give_run_outputs_on_every_conformance_case(case, tmp_path):
    if case.raises is not None:
        with pytest.raises(case.raises):
            _slices(case, tmp_path)
        return
    outputs, status, errors = _slices(case, tmp_path)
    assert status == case.status
    if case.outputs is not None:
        assert outputs == case.outputs
    if case.errors is not None:
        assert errors == sorted(case.errors)


class P(NamedTuple):
    n: int = 4


def nums(n: int) -> Iterator[int]:
    yield from range(n)


def sq(nums: int) -> int:
    return nums * nums


def total(sq: list[int]) -> int:
    return sum(sq)


def table(total: int) -> pa.Table:
    return pa.table({"total": [total]})


def width(table: pa.Table) -> int:
    return table.num_columns


def _p():
    return pipeline(name="sl", params=P, steps=[
        step("nums", fn=nums), step("sq", fn=sq), step("total", fn=total),
        step("table", fn=table), step("width", fn=width)])


def test_boundary_outputs_go_to_the_store_and_are_read_back(tmp_path):
    p, store = _p(), Store(tmp_path)
    first = run_slice(p, ["nums", "sq", "total"], P(4), store=store, run_id="a")
    assert first.outputs == {}  # nothing terminal in this slice
    assert store.read("a", "total") == 14
    assert not store.has("a", "sq")  # read inside the slice only
    second = run_slice(p, ["table"], P(4), store=store, run_id="a")
    assert second.steps["table"].status == "ok" and second.steps["total"].status == "not_run"
    assert store.read("a", "table").equals(pa.table({"total": [14]}))  # Arrow IPC
    assert run_slice(p, ["width"], P(4), store=store, run_id="a").outputs == {"width": 1}
    manifests = store.manifests("a")
    assert sorted(manifests) == ["nums", "table", "width"]
    assert manifests["nums"]["steps"] == ["nums", "sq", "total"]
    assert manifests["nums"]["params"] == {"n": 4}
    assert manifests["width"]["outputs"] == ["width"]
    assert len(manifests["nums"]["contract_hash"]) == 64


def test_a_missing_input_names_the_producing_step(tmp_path):
    with pytest.raises(MissingInputError, match="step 'total'.*step 'table'"):
        run_slice(_p(), ["table"], P(4), store=tmp_path, run_id="b")


def test_a_stream_cannot_cross_the_slice(tmp_path):
    with pytest.raises(PipelineDefinitionError, match="'sq' reads 'nums' as a lazy stream"):
        run_slice(_p(), ["nums"], P(4), store=tmp_path, run_id="c")


def test_unknown_steps_and_runners_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown steps \['nope'\]"):
        run_slice(_p(), ["nope"], P(4), store=tmp_path, run_id="d")
    with pytest.raises(ValueError, match="runner must be one of"):
        run_slice(_p(), ["nums"], P(4), store=tmp_path, run_id="d", runner="spark")


def test_the_contract_alone_runs_a_slice(tmp_path):
    contract = _p().dag.to_json()
    run_slice(contract, ["nums", "sq", "total"], P(3), store=tmp_path, run_id="e")
    assert run_slice(contract, ["table", "width"], P(3), store=tmp_path,
                     run_id="e").outputs == {"width": 1}


def test_a_retry_replaces_the_slice(tmp_path):
    store = Store(tmp_path)
    run_slice(_p(), ["nums", "sq", "total"], P(3), store=store, run_id="f")
    run_slice(_p(), ["nums", "sq", "total"], P(3), store=store, run_id="f")
    assert store.read("f", "total") == 5
    assert list(store.manifests("f")) == ["nums"]


def boom(n: int) -> int:
    raise ValueError("boom")


def after(boom: int) -> int:
    return boom + 1


def last(after: int) -> int:
    return after


def test_a_failed_step_skips_its_readers_in_later_slices(tmp_path):
    p = pipeline(name="sk", params=P, steps=[
        step("boom", fn=boom, on_error=OnError.CONTINUE), step("after", fn=after),
        step("last", fn=last)], error_materializer=lambda e: None)
    whole = run(p, P())
    store = Store(tmp_path)
    first = run_slice(p, ["boom"], P(), store=store, run_id="g")
    assert store.manifests("g")["boom"]["unpublished"] == ["boom"]
    second = run_slice(p, ["after", "last"], P(), store=store, run_id="g")
    assert (first.status, second.status) == ("completed_with_errors",) * 2
    assert second.steps["after"].status == whole.steps["after"].status == "skipped"
    assert second.outputs == dict(whole.outputs) == {}


@pytest.mark.parametrize("which", ["async", "ray"])
def test_other_runners_run_slices(tmp_path, which):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    options = {"debug": "serialize"} if which == "ray" else {}
    store = Store(tmp_path)
    run_slice(_p(), ["nums", "sq", "total"], P(5), store=store, run_id="h", runner=which,
              **options)
    assert store.read("h", "total") == 30
    assert run_slice(_p(), ["table", "width"], P(5), store=store, run_id="h",
                     runner=which, **options).outputs == {"width": 1}


def rows(n: int) -> Iterator[dict]:
    for i in range(n):
        yield {"i": i}


def count(rows: list[dict]) -> int:
    return len(rows)


def test_an_arrow_materializer_keeps_its_own_files(tmp_path):
    from synaflow.materializers.arrow import arrow_materializer

    p = pipeline(name="own", params=P, steps=[
        step("rows", fn=rows, materializer=arrow_materializer(tmp_path / "data")),
        step("count", fn=count)])
    store = Store(tmp_path / "store")
    run_slice(p, ["rows"], P(5), store=store, run_id="m")
    stored = tmp_path / "store" / "m" / "rows" / "data.pickle"
    assert stored.stat().st_size < 2000  # a reference to the materializer's files
    assert any((tmp_path / "data").iterdir())
    assert run_slice(p, ["count"], P(5), store=store, run_id="m").outputs == {"count": 5}
