"""Whole runs through a store: ``run_stored`` (with resume) and ``load_outputs``
(issue 25, items 3 and 4).

``run_stored(p, params, store=..., run_id=...)`` runs the contract slice by slice
(``groups``), each with ``run_slice``. Called again with the same ``run_id`` after a
failure or a killed process, it skips every slice whose manifest is committed and
runs the rest. A run id already used with another contract or other params is
refused, so a resume never mixes the data of two different runs.

``load_outputs(store, run_id=None)`` reads a finished run's terminal and exported
outputs back, as ``RunResult.outputs`` (the latest complete run when ``run_id`` is
None).

    >>> import tempfile
    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def double(n: int) -> int:
    ...     return 2 * n
    >>> p = pipeline(name="twice", params=P, steps=[step("double", fn=double)])
    >>> store = tempfile.mkdtemp()
    >>> run_stored(p, P(21), store=store, run_id="r1").outputs
    {'double': 42}
    >>> load_outputs(store)
    {'double': 42}
"""
from __future__ import annotations

import json
import time
from typing import Any

from ..engine.result import RunResult, StepStats
from .grouping import groups
from .slices import as_contract, contract_hash, manifest_params, run_slice
from .store import Store, StoreError, as_store

__all__ = ["run_stored", "load_outputs"]


def run_stored(dag_or_pipeline: Any, params: Any, *, store: Any, run_id: str,
               group: str = "components", runner: str = "sync",
               **runner_options: Any) -> RunResult:
    """Run the whole contract slice by slice through ``store``, skipping the slices a
    previous call with the same ``run_id`` committed. Returns the run's ``RunResult``
    (the figures of skipped slices come from their manifests)."""
    dag, store = as_contract(dag_or_pipeline), as_store(store)
    started = time.monotonic()
    done = store.manifests(run_id)
    _check_same_run(dag, manifest_params(dag, params), done, store, run_id)
    outputs: dict[str, Any] = {}
    stats: dict[str, StepStats] = {}
    statuses = []
    for g in groups(dag, group):
        manifest = done.get(g.name)
        if manifest is not None and manifest["steps"] == list(g.steps):
            outputs.update({name: store.read(run_id, name) for name in manifest["outputs"]})
            stats.update({name: StepStats(**s) for name, s in manifest["stats"].items()})
            statuses.append(manifest["status"])
            continue
        result = run_slice(dag, g, params, store=store, run_id=run_id, runner=runner,
                           **runner_options)
        outputs.update(result.outputs)
        stats.update({name: result.steps[name] for name in g.steps})
        statuses.append(result.status)
    ok = all(s == "succeeded" for s in statuses)
    return RunResult(pipeline_name=dag.name, run_id=run_id,
                     status="succeeded" if ok else "completed_with_errors",
                     outputs=_in_order(dag.steps, outputs), steps=_in_order(dag.steps, stats),
                     wall_time_s=time.monotonic() - started)


def _check_same_run(dag: Any, params: dict[str, Any], done: dict[str, dict], store: Store,
                    run_id: str) -> None:
    digest = contract_hash(dag)
    for name, manifest in done.items():
        if manifest.get("contract_hash") != digest:
            raise StoreError(
                f"Pipeline '{dag.name}': run '{run_id}' in the store {store.location!r} was "
                f"started from another contract (slice '{name}' has contract hash "
                f"{str(manifest.get('contract_hash'))[:12]}..., this pipeline "
                f"{digest[:12]}...). Fix: use a new run id for the changed pipeline")
        if manifest.get("params") != params:
            raise StoreError(
                f"Pipeline '{dag.name}': run '{run_id}' in the store {store.location!r} was "
                f"started with other params ({manifest.get('params')}, now {params}). Fix: "
                "resume with the same params, or use a new run id")


def _in_order(order: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in order if name in values}


def load_outputs(store: Any, run_id: str | None = None) -> dict[str, Any]:
    """A complete run's terminal and exported outputs (``RunResult.outputs``); the latest
    complete run in ``store`` when ``run_id`` is None."""
    store = as_store(store)
    if run_id is None:
        runs = store.runs()
        complete = [(r, m) for r, m in ((r, store.manifests(r)) for r in runs)
                    if not _missing(m)]
        if not complete:
            raise StoreError(f"the store {store.location!r} holds no complete run "
                             f"(runs: {runs or 'none'})")
        run_id, manifests = complete[-1]
    else:
        manifests = store.manifests(run_id)
    missing = _missing(manifests)
    if missing:
        raise StoreError(
            f"run '{run_id}' in the store {store.location!r} is not complete: steps "
            f"{missing} have not run. Fix: run it again with run_stored(..., "
            f"run_id='{run_id}') (finished slices are skipped)")
    order = next(iter(manifests.values()))["contract_steps"]
    names = {name for m in manifests.values() for name in m["outputs"]}
    return {name: store.read(run_id, name) for name in order if name in names}


def _missing(manifests: dict[str, dict]) -> list[str]:
    """Steps of the contract that no committed slice ran (all of them: no manifest)."""
    if not manifests:
        return ["(all)"]
    hashes = {m.get("contract_hash") for m in manifests.values()}
    if len(hashes) > 1:
        raise StoreError(f"the slices of one run come from {len(hashes)} different "
                         "contracts: " + json.dumps(sorted(manifests)))
    ran = {name for m in manifests.values() for name in m["steps"]}
    return [name for name in next(iter(manifests.values()))["contract_steps"]
            if name not in ran]
