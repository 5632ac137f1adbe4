"""Run one slice of a contract with its inputs and outputs in a store (issue 25, item 1).

``run_slice(p, steps, params, store=..., run_id=...)`` runs ``steps`` of the contract
with one of our runners. Steps outside the slice do not run: the outputs of those the
slice reads come from the store (a ``MissingInputError`` names the producing step
when one is not there), and those that published nothing in their own slice (failed
or skipped under ``OnError.CONTINUE``) make their readers skip, as in a whole run.
Every output of the slice that a step outside it reads, and every terminal or
exported output, is written to the store; then the slice's manifest is committed
(contract hash, params, the slice's steps, which of them published, the runner). A fatal error
commits nothing, so an orchestrator's retry with the same ``run_id`` runs the slice
again and replaces what it wrote.

    >>> import tempfile
    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def double(n: int) -> int:
    ...     return 2 * n
    >>> def inc(double: int) -> int:
    ...     return double + 1
    >>> p = pipeline(name="twice", params=P, steps=[step("double", fn=double),
    ...                                             step("inc", fn=inc)])
    >>> store = tempfile.mkdtemp()
    >>> run_slice(p, ["double"], P(20), store=store, run_id="r1").outputs
    {}
    >>> run_slice(p, ["inc"], P(20), store=store, run_id="r1").outputs
    {'inc': 41}
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ..core.exceptions import PipelineDefinitionError
from ..engine.core import SliceSpec, is_output, run_params
from ..engine.result import RunResult
from .grouping import Group, stream_edges
from .store import Store, as_store

__all__ = ["run_slice", "contract_hash", "slice_name", "manifest_params", "RUNNERS",
           "check_runner", "run_on"]

RUNNERS = ("sync", "async", "ray")


def check_runner(runner: str) -> None:
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(map(repr, RUNNERS))}, "
                         f"got {runner!r}")


def as_contract(dag_or_pipeline: Any) -> Any:
    """A pipeline, a compiled Dag, or its contract (a dict or JSON text) as a Dag."""
    from ..core.dag import Dag

    if isinstance(dag_or_pipeline, (dict, str)):
        return Dag.from_dict(dag_or_pipeline)
    dag = getattr(dag_or_pipeline, "dag", dag_or_pipeline)
    if not isinstance(dag, Dag):
        raise TypeError(f"expected a pipeline(...) object, a compiled Dag or its contract "
                        f"(dict or JSON), got {type(dag_or_pipeline).__name__}")
    return dag


def contract_hash(dag: Any) -> str:
    """The SHA-256 of the contract's canonical JSON (the same contract, the same hash)."""
    text = json.dumps(dag.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def manifest_params(dag: Any, params: Any) -> dict[str, Any]:
    """The run's params (checked, defaults filled in) as the manifest records them."""
    return json.loads(json.dumps(run_params(dag, params), sort_keys=True, default=str))


def slice_name(steps: Iterable[str], dag: Any) -> str:
    """A slice is named after its first step in the Dag's order (as a ``Group``)."""
    chosen = set(steps)
    return next(name for level in dag.get_execution_levels() for name in level
                if name in chosen)


def _chosen(dag: Any, steps: Any) -> list[str]:
    if isinstance(steps, Group):
        steps = steps.steps
    elif isinstance(steps, str):
        steps = [steps]
    chosen = list(dict.fromkeys(steps))
    unknown = [s for s in chosen if s not in dag.steps]
    if unknown or not chosen:
        raise ValueError(f"Pipeline '{dag.name}': run_slice() got "
                         f"{'unknown steps ' + repr(unknown) if unknown else 'no steps'}; "
                         f"the steps are {sorted(dag.steps)}")
    return chosen


def _refuse_crossing_streams(dag: Any, chosen: set[str]) -> None:
    for producer, consumer in stream_edges(dag):
        if (producer in chosen) != (consumer in chosen):
            inside, outside = (producer, consumer) if producer in chosen else (consumer,
                                                                                 producer)
            raise PipelineDefinitionError(
                f"the slice holds step '{inside}' but not step '{outside}', and "
                f"'{consumer}' reads '{producer}' as a lazy stream, which cannot cross a "
                "slice boundary", pipeline=dag.name, step=consumer,
                fix="put both steps in the same slice (synaflow.export.groups gives "
                    f"slices that can run), or have '{consumer}' take list[...] so that "
                    f"'{producer}' is collected into the store")


def _inputs(dag: Any, chosen: set[str], store: Store, run_id: str) -> dict[str, Any]:
    """The stored outputs the slice reads; a producer that published nothing in its
    committed slice is left out (its readers skip). The manifests are only read when
    an output is not in the store."""
    inputs: dict[str, Any] = {}
    unpublished: set[str] | None = None
    for consumer in chosen:
        for producer in dag.step_dependencies(consumer):
            if producer in chosen or producer in inputs:
                continue
            if not store.has(run_id, producer):
                if unpublished is None:
                    unpublished = {step for m in store.manifests(run_id).values()
                                   for step in m.get("unpublished", ())}
                if producer in unpublished:
                    continue
            inputs[producer] = store.read(run_id, producer, consumer=consumer)
    return inputs


def boundary(dag: Any, chosen: set[str]) -> frozenset[str]:
    """Steps of the slice that a step outside it reads."""
    return frozenset(name for name in chosen
                     if any(c not in chosen for c in dag.steps[name].consumers))


def run_on(runner: str, dag: Any, params: Any, overrides: Any = None,
           **options: Any) -> RunResult:
    """Run ``dag`` to the end on the runner named ``runner`` (``RUNNERS``), from code
    that is not in a coroutine: ``run``, ``asyncio.run(async_run(...))`` or ``ray_run``."""
    if runner == "sync":
        from ..execution.sync_engine.executor import run

        return run(dag, params, overrides, **options)
    if runner == "async":
        from ..execution.async_engine.executor import async_run

        return asyncio.run(async_run(dag, params, overrides, **options))
    from ..distributed import ray_run

    return ray_run(dag, params, overrides, **options)


def run_slice(dag_or_pipeline: Any, steps: Any, params: Any, *, store: Any, run_id: str,
              runner: str = "sync", **runner_options: Any) -> RunResult:
    """Run ``steps`` (names, or a ``Group``) of the contract; see the module docstring.

    ``runner`` is ``"sync"``, ``"async"`` or ``"ray"``; ``runner_options`` go to it
    (``address=``, ``step_options=``, ``stall_timeout=``, ...). Returns the slice's
    ``RunResult``: ``outputs`` holds the terminal and exported outputs of the slice.
    """
    check_runner(runner)
    dag = as_contract(dag_or_pipeline)
    store = as_store(store)
    chosen = _chosen(dag, steps)
    inside = set(chosen)
    _refuse_crossing_streams(dag, inside)
    keep = boundary(dag, inside)
    spec = SliceSpec(frozenset(inside), _inputs(dag, inside, store, run_id), keep)
    result = run_on(runner, dag, params, **runner_options, slice_spec=spec)
    for name, value in result.outputs.items():
        store.write(run_id, name, value)
    outputs = {k: v for k, v in result.outputs.items() if is_output(dag, k)}
    published = sorted(result.outputs)
    store.commit(run_id, slice_name(chosen, dag), {
        "pipeline": dag.name, "contract_hash": contract_hash(dag), "run_id": run_id,
        "params": manifest_params(dag, params), "steps": chosen,
        "contract_steps": [n for level in dag.get_execution_levels() for n in level],
        "published": published, "unpublished": sorted(keep - set(published)),
        "outputs": sorted(outputs), "status": result.status, "runner": runner,
        "stats": {name: dataclasses.asdict(result.steps[name]) for name in chosen}})
    return dataclasses.replace(result, outputs=outputs)
