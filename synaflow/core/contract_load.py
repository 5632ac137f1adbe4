"""``Dag.from_dict``: a JSON contract back into a runnable Dag.

Nothing is re-decided: modes, unrolled dependencies, materialization and publish
plans are read from the contract. Functions, materializers, resources and the
params class are imported by their ``module:qualname`` references; type objects are
read back from the imported functions' annotations.
"""
from __future__ import annotations

import importlib
import json
from typing import Any

from .dag import Binding, Dag, DagNode
from .exceptions import ContractLoadError
from .frozen import FrozenDict
from .observers import ResolvedObserver
from .types import StepMode


def import_ref(ref: str, *, what: str) -> Any:
    """Import ``module:qualname``; ContractLoadError says which reference failed."""
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise ContractLoadError(
            f"{what}: cannot import '{ref}' ({type(exc).__name__}: {exc}). Make the module "
            "importable in this process (install the package or add it to PYTHONPATH)"
        ) from exc
    return target


def _load_spec(spec: dict[str, Any] | None, *, what: str) -> Any:
    if spec is None:
        return None
    from .default_materializers import load_ref

    try:
        return load_ref(spec)
    except Exception as exc:
        raise ContractLoadError(f"{what}: cannot load {spec!r} ({exc})") from exc


def _require(ref: str | None, *, what: str, name: str | None) -> str:
    if ref is None:
        raise ContractLoadError(
            f"{what} '{name}' has no importable reference: lambdas, closures, nested "
            "functions and objects defined in __main__ cannot be loaded from JSON. Define it "
            "at module level in an importable module")
    return ref


def dag_from_dict(data: dict[str, Any] | str) -> Dag:
    """Rebuild a Dag; raises ContractLoadError naming the step and reference that failed."""
    from .contract import CONTRACT_VERSION, DagContract

    raw = json.loads(data) if isinstance(data, str) else data
    try:
        DagContract.model_validate(raw)
    except Exception as exc:
        raise ContractLoadError(f"not a SynaFlow contract: {exc}") from exc
    if raw["contract_version"] != CONTRACT_VERSION:
        raise ContractLoadError(f"contract_version {raw['contract_version']} is not supported "
                                f"(this SynaFlow reads version {CONTRACT_VERSION})")
    name = raw["name"]
    params_type = import_ref(_require(raw.get("params_ref"), what=f"pipeline '{name}': params "
                                      "class", name=None), what=f"pipeline '{name}' params")
    return _build(raw, params_type)


def _build(raw: dict[str, Any], params_type: Any) -> Dag:
    from .signatures import params_fields, resource_type

    name = raw["name"]
    factories = {r: import_ref(_require(ref, what="resource", name=r),
                               what=f"pipeline '{name}': resource '{r}'")
                 for r, ref in (raw.get("resource_refs") or {}).items()}
    params = params_fields(params_type) or {}
    steps: dict[str, DagNode] = {}
    for step_name, entry in raw["steps"].items():
        steps[step_name] = _node(name, step_name, entry, params, factories, steps)
    return Dag(
        name=name, params=FrozenDict({k: params.get(k) for k in raw["params"]}),
        steps=FrozenDict(steps), resource_factories=FrozenDict(factories),
        resource_params=FrozenDict((r, FrozenDict(w))
                                   for r, w in (raw.get("resource_params") or {}).items()),
        requires_sync_runner=raw["requires_sync_runner"],
        requires_async_runner=raw["requires_async_runner"],
        error_materializer_factory=_load_spec(raw.get("error_materializer_ref"),
                                              what=f"pipeline '{name}' error materializer"),
        pipeline_observers=_observers(raw.get("pipeline_observers"), name, None),
        scope_step_totals=FrozenDict(raw["scope_step_totals"]), params_type=params_type,
        resource_types=FrozenDict({r: resource_type(f) for r, f in factories.items()}),
        exports=raw.get("exports"))


def _observers(entries: list | None, pipeline: str, step: str | None) -> tuple:
    out = []
    for entry in entries or ():
        where = f"pipeline '{pipeline}'" + (f", step '{step}'" if step else "")
        if "handler_ref" not in entry:
            _require(None, what=f"{where}: observer", name=entry["handler_name"])
        handler = _load_spec(entry["handler_ref"], what=f"{where}: observer")
        out.append(ResolvedObserver(handler, entry["source"]))
    return tuple(out)


def _node(pipeline: str, name: str, e: dict[str, Any], params: dict, factories: dict,
          done: dict[str, DagNode]) -> DagNode:
    """One step back from its entry: the fields ``contract.STEP_KEYS`` read back, then
    those resolved from the imported function (its output type, its bindings' types),
    its materializers and its observers."""
    from .contract import STEP_KEYS
    from .scoped import scoped_fn
    from .signatures import each_output_type, function_hints, output_annotation

    fields: dict[str, Any] = {}
    for key in STEP_KEYS:
        if key.load is not None:
            fields.update(key.load(e.get(key.name)))
    where = f"pipeline '{pipeline}', step '{name}'"
    fn = import_ref(_require(e["fn_ref"], what=f"{where}: function", name=e["fn"]),
                    what=f"{where}: function")
    hints = function_hints(fn, pipeline=pipeline, step=name)
    out = output_annotation(fn, hints)
    output = each_output_type(out, pipeline=pipeline, step=name) \
        if fields["mode"] is StepMode.EACH else out
    bindings = tuple(_binding(b, hints, where) for b in e["bindings"])
    deps: dict[str, Any] = {}
    for b in bindings:
        deps.setdefault(b.producer, b.declared_type)
    return DagNode(
        name=name, deps=FrozenDict(deps), output=output, bindings=bindings,
        fn=scoped_fn(fn, bindings, included=e.get("parent_pipeline") is not None
                     and not e.get("is_adapter")),
        materializer=_materializer(e, "materializer", where),
        error_materializer=_materializer(e, "error_materializer", where),
        default_materializer=_is_default(e),
        observers=_observers(e.get("observers"), pipeline, name), **fields)


def _binding(b: dict[str, Any], hints: dict[str, Any], where: str) -> Binding:
    declared = hints.get(b["param"])
    if b.get("declared_type_ref"):
        declared = _load_spec(b["declared_type_ref"], what=f"{where}: type of '{b['param']}'")
    return Binding(b["param"], b["producer"], declared, b.get("attr"))


def _materializer(e: dict[str, Any], key: str, where: str) -> Any:
    if e.get(key) is None:
        return None
    spec = e.get(f"{key}_ref")
    if spec is None:
        _require(None, what=f"{where}: {key.replace('_', ' ')}", name=e[key])
    return _load_spec(spec, what=f"{where}: {key.replace('_', ' ')}")


def _is_default(e: dict[str, Any]) -> bool:
    spec = e.get("materializer_ref") or {}
    return spec.get("ref", "").startswith(("builtins:", "synaflow.core.default_materializers:"))
