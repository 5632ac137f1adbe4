"""The store between slices (issue 25, item 2): a folder or a pyarrow.fs URI, laid out
as {run_id}/{step}, Arrow IPC for Arrow tables, atomic writes, a manifest per slice,
retries that replace, and a missing input that names its producing step."""
from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pytest

from synaflow.export import MissingInputError, Store


@pytest.fixture(params=["folder", "file-uri"])
def store(request, tmp_path):
    root = tmp_path / "store"
    return Store(root if request.param == "folder" else f"file://{root}")


def test_values_round_trip(store):
    store.write("r1", "counts", {"a": 1, "b": [2, 3]})
    assert store.read("r1", "counts") == {"a": 1, "b": [2, 3]}
    assert store.has("r1", "counts") and not store.has("r1", "other")


def test_arrow_tables_as_arrow_ipc(store, tmp_path):
    table = pa.table({"host": ["a", "b"], "n": [1, 2]})
    store.write("r1", "summary", table)
    assert store.read("r1", "summary").equals(table)
    assert os.path.exists(tmp_path / "store" / "r1" / "summary" / "data.arrow")
    batch = table.to_batches()[0]
    store.write("r1", "batch", batch)
    assert store.read("r1", "batch").equals(table)


def test_retry_replaces_whole_and_leaves_no_temporaries(store, tmp_path):
    store.write("r1", "out", [1, 2, 3])
    store.write("r1", "out", pa.table({"x": [1]}))  # a retry whose output changed kind
    assert store.read("r1", "out").num_rows == 1
    store.write("r1", "out", "final")
    assert store.read("r1", "out") == "final"
    assert sorted(os.listdir(tmp_path / "store" / "r1" / "out")) == ["data.pickle"]


def test_missing_input_names_the_producer(store):
    with pytest.raises(MissingInputError) as info:
        store.read("r9", "parse", consumer="summary")
    text = str(info.value)
    assert "the output of step 'parse', which step 'summary' reads, is not in the store" in text
    assert "run 'r9'" in text and "Fix: run the slice that contains step 'parse' first" in text
    assert isinstance(info.value, LookupError)


def test_manifests_and_runs(store):
    assert store.runs() == [] and store.manifests("r1") == {}
    store.write("r1", "a", 1)
    store.commit("r1", "group-1", {"steps": ["a"], "contract_hash": "abc"})
    store.write("r2", "a", 2)
    assert store.manifests("r1") == {"group-1": {"steps": ["a"], "contract_hash": "abc"}}
    assert store.runs() == ["r1", "r2"]


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "_slices"])
def test_run_ids_cannot_escape(store, bad):
    with pytest.raises(ValueError, match="cannot name a folder of the store"):
        store.write(bad, "a", 1)


def test_unpicklable_output_names_the_step(store):
    import threading

    with pytest.raises(Exception, match=r"step 'held': its output \(lock\) cannot be pickled"):
        store.write("r1", "held", threading.Lock())
    assert not store.has("r1", "held")


def test_import_synaflow_does_not_import_pyarrow():
    code = "import sys, synaflow, synaflow.export; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
