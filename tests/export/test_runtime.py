"""What a generated file runs, without an orchestrator (issue 26): Exported checks the
installed pipeline against the embedded contract, checks params, and runs slices;
an async pipeline's slices run on asyncio."""
from __future__ import annotations

import asyncio

import pytest

import export_pipelines
from synaflow import ParamsError, async_run
from synaflow.export import ExportError, contract_hash, groups, load_outputs
from synaflow.export.runtime import Exported, changed_steps


def _exported(p, store, **kw):
    return Exported(pipeline=p.dag.name, source=kw.pop("source"), store=str(store),
                    contract_hash=contract_hash(p.dag), contract=p.dag.to_dict(), **kw)


def test_an_async_pipeline_runs_its_slices_on_asyncio(tmp_path):
    p = export_pipelines.async_flow()
    exported = _exported(p, tmp_path, source="export_pipelines:async_flow")
    assert exported.runner == "async"
    params = exported.params({"n": 41})
    assert params == {"n": 41, "region": "eu"}  # defaults filled in
    uris = [exported.run(g.name, params, "r1") for g in groups(p)]
    assert uris[-1].endswith("r1/_slices/shout.json")
    assert load_outputs(tmp_path, "r1") == dict(asyncio.run(
        async_run(p, export_pipelines.Daily(n=41))).outputs) == {"shout": "42!"}


def test_params_are_checked_before_any_step(tmp_path):
    exported = _exported(export_pipelines.sales(), tmp_path, source="export_pipelines:sales")
    with pytest.raises(ParamsError, match="field 'n'"):
        exported.params({"out": "x", "n": "four"})
    with pytest.raises(ParamsError, match="'out'"):
        exported.params({})


def test_a_changed_contract_names_its_steps(tmp_path):
    p = export_pipelines.sales()
    old = p.dag.to_dict()
    old["steps"]["rows"] = dict(old["steps"]["rows"], on_error="stop")
    assert changed_steps(old, p.dag.to_dict()) == ["rows"]
    with pytest.raises(ExportError, match="Pipeline 'sales': this Airflow file was generated "
                                          "from another version .*changed since: rows"):
        Exported(pipeline="sales", source="export_pipelines:sales", store=str(tmp_path),
                 contract_hash="0" * 64, contract=old, target="Airflow")
    with pytest.raises(ExportError, match="cannot import it from 'no_such_module:sales'"):
        Exported(pipeline="sales", source="no_such_module:sales", store=str(tmp_path),
                 contract_hash="0" * 64, contract=old)
