"""run_stored and load_outputs (issue 25, items 3 and 4): a whole run slice by slice
through the store, resumed after a failure or a killed process without running the
finished slices again; a stored run's outputs read back."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from synaflow import OnError, PipelineStopException, pipeline, run, step
from synaflow.export import Store, StoreError, load_outputs, run_stored
from synaflow.testing import CASES

HERE = Path(__file__).parent


@pytest.mark.parametrize("case", [c for c in CASES if c.raises is None],
                         ids=[c.name for c in CASES if c.raises is None])
def test_run_stored_and_load_outputs_match_run(case, tmp_path):
    p = case.build()
    dag = getattr(p, "dag", p)
    overrides = case.overrides(p) if case.overrides is not None else None
    runner = "async" if dag.requires_async_runner else "sync"
    result = run_stored(p, case.params, store=tmp_path, run_id="r", runner=runner,
                        overrides=overrides)
    assert result.status == case.status
    if case.outputs is not None:
        assert dict(result.outputs) == case.outputs
        assert load_outputs(tmp_path, "r") == case.outputs


class P(NamedTuple):
    folder: str
    n: int = 3


def nums(n: int) -> Iterator[int]:
    yield from range(n)


def sq(nums: int) -> int:
    return nums * nums


def total(sq: list[int], folder: str) -> int:
    _count(folder, "total")
    return sum(sq)


def report(total: int, folder: str) -> str:
    _count(folder, "report")
    if not os.path.exists(os.path.join(folder, "ready")):
        raise RuntimeError("not yet")
    return f"total={total}"


def _count(folder: str, name: str) -> None:
    with open(os.path.join(folder, name), "a") as f:
        f.write("x")


def _calls(folder: Path, name: str) -> int:
    path = folder / name
    return len(path.read_text()) if path.exists() else 0


def _p():
    return pipeline(name="resume", params=P, steps=[
        step("nums", fn=nums), step("sq", fn=sq), step("total", fn=total),
        step("report", fn=report, on_error=OnError.STOP)])


def test_resume_skips_the_slices_that_finished(tmp_path):
    store, folder = Store(tmp_path / "store"), tmp_path / "calls"
    folder.mkdir()
    params = P(str(folder))
    with pytest.raises(PipelineStopException):
        run_stored(_p(), params, store=store, run_id="r")
    assert list(store.manifests("r")) == ["nums", "total"]  # the failed slice: nothing
    with pytest.raises(StoreError, match="not complete: steps \\['report'\\]"):
        load_outputs(store, "r")
    (folder / "ready").touch()
    result = run_stored(_p(), params, store=store, run_id="r")
    assert result.outputs == {"report": "total=5"} == dict(run(_p(), params).outputs)
    assert _calls(folder, "total") == 2  # once by run_stored (not again on resume), once by run()
    assert _calls(folder, "report") == 3  # failed, resumed, run()
    assert result.steps["total"].status == "ok" and result.steps["report"].status == "ok"
    assert load_outputs(store) == {"report": "total=5"}


def test_resume_after_a_killed_process(tmp_path):
    store, folder = tmp_path / "store", tmp_path / "calls"
    folder.mkdir()
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(HERE)!r})
        import test_runs as t
        from synaflow.export import run_stored

        def report(total: int, folder: str) -> str:
            t._count(folder, "report")
            if not os.path.exists(os.path.join(folder, "ready")):
                os.kill(os.getpid(), signal.SIGKILL)
            return f"total={{total}}"

        t.report = report
        print(run_stored(t._p(), t.P({str(folder)!r}), store={str(store)!r},
                         run_id="k").outputs)
    """))
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert first.returncode == -9, first.stderr
    assert _calls(folder, "total") == 1 and _calls(folder, "report") == 1
    (folder / "ready").touch()
    second = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            check=True)
    assert second.stdout.strip() == "{'report': 'total=5'}"
    assert _calls(folder, "total") == 1  # its slice was not run again
    assert _calls(folder, "report") == 2


def test_a_run_id_is_not_resumed_with_other_params_or_another_contract(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "ready").touch()
    run_stored(_p(), P(str(folder)), store=tmp_path, run_id="r")
    with pytest.raises(StoreError, match="started with other params"):
        run_stored(_p(), P(str(folder), n=4), store=tmp_path, run_id="r")
    other = pipeline(name="resume", params=P, steps=[
        step("nums", fn=nums), step("sq", fn=sq), step("total", fn=total)])
    with pytest.raises(StoreError, match="started from another contract"):
        run_stored(other, P(str(folder)), store=tmp_path, run_id="r")


def test_load_outputs_takes_the_latest_complete_run(tmp_path):
    folder = tmp_path / "calls"
    folder.mkdir()
    with pytest.raises(StoreError, match="holds no complete run"):
        load_outputs(tmp_path / "store")
    (folder / "ready").touch()
    run_stored(_p(), P(str(folder), n=2), store=tmp_path / "store", run_id="old")
    os.utime(tmp_path / "store" / "old", (1, 1))
    run_stored(_p(), P(str(folder), n=4), store=tmp_path / "store", run_id="new")
    (folder / "ready").unlink()
    with pytest.raises(PipelineStopException):
        run_stored(_p(), P(str(folder), n=5), store=tmp_path / "store", run_id="broken")
    assert load_outputs(tmp_path / "store") == {"report": "total=14"}
    assert load_outputs(tmp_path / "store", "old") == {"report": "total=1"}
