"""The JSON contract: its shape as pydantic models, and ``Dag -> dict``.

The models below are the one definition of the contract. ``dag_to_dict`` builds
them and dumps them, so every ``to_dict()`` output validates by construction;
``contract_json_schema()`` is what ``synaflow schema`` prints. Keys marked optional
are omitted when empty (as in SynaFlow 0.32.4). Keys after ``step_total_in_scope``
are additions of this implementation: ``materialized_deps`` (named by the design
page), the ``*_ref`` keys that let another process load the contract back, and
step settings 0.32.4 did not have (``max_in_flight_bytes``, ``ray_options``).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, PositiveInt

CONTRACT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallableRef(_Model):
    """How to import (and, with kwargs, construct) a callable in another process."""

    ref: str
    kwargs: Optional[dict[str, Any]] = None


class ObserverEntry(_Model):
    handler_name: str
    source: Literal["pipeline", "step", "subpipeline"]
    handler_ref: Optional[CallableRef] = None


class OutputContractModel(_Model):
    runtime_kind: Literal["value", "sync_stream", "async_stream"]
    completion_policy: Literal["immediate", "on_exhaustion"]
    drain_policy: Literal["none", "terminal", "barrier_only"]


class ConsumerContractModel(_Model):
    consumer_name: str
    consumption: Literal["item", "materialized", "stream", "barrier_only"]
    shape: Literal["as_is", "items", "list", "set", "tuple", "dict", "iter", "aiter"]


class PublishPlanModel(_Model):
    strategy: Literal["publish_value", "publish_materialized", "publish_stream",
                      "publish_sync_fanout", "publish_async_fanout"]
    handoff: Literal["none", "bounded_iterator", "sync_fanout", "async_queue"]
    max_in_flight: int


class BindingModel(_Model):
    param: str
    producer: str
    attr: Optional[str] = None
    declared_type_ref: Optional[CallableRef] = None


class StepContract(_Model):
    """One step. Keys and their order follow SynaFlow 0.32.4, then the additions."""

    deps: dict[str, str]
    output: str
    fn: Optional[str]
    on_error: Literal["continue", "stop"]
    mode: Literal["each", "all"]
    materializer: Optional[str]
    error_materializer: Optional[str]
    each_mode_deps: list[str]
    pipeline: str
    parent_pipeline: Optional[str]
    max_in_flight: int
    needs_materialize_reasons: Optional[list[str]] = None
    observers: Optional[list[ObserverEntry]] = None
    dataset_param_names: Optional[dict[str, str]] = None
    error_threshold_absolute: Optional[int] = None
    error_threshold_pct: Optional[float] = None
    output_contract: OutputContractModel
    consumer_contracts: Optional[list[ConsumerContractModel]] = None
    publish_plan: PublishPlanModel
    fn_kind: Literal["sync", "sync_generator", "async", "async_generator"]
    async_stream_deps: Optional[list[str]] = None
    pipeline_scope: str
    step_index_in_scope: int
    step_total_in_scope: int
    materialized_deps: list[str]
    fn_ref: Optional[str]
    bindings: list[BindingModel]
    materializer_ref: Optional[CallableRef] = None
    error_materializer_ref: Optional[CallableRef] = None
    force_materialize: Optional[bool] = None
    exported: Optional[bool] = None
    is_adapter: Optional[bool] = None
    max_in_flight_bytes: Optional[PositiveInt] = None
    ray_options: Optional[dict[str, Any]] = None
    description: Optional[str] = None


class DagContract(_Model):
    """The whole pipeline contract."""

    name: str
    params: dict[str, str]
    steps: dict[str, StepContract]
    resources: Optional[dict[str, str]] = None
    error_materializer: Optional[str]
    pipeline_observers: Optional[list[ObserverEntry]] = None
    scope_step_totals: dict[str, int]
    contract_version: int
    params_ref: Optional[str]
    resource_refs: Optional[dict[str, Optional[str]]] = None
    # resource -> {factory parameter: params field}; absent when no factory reads params
    resource_params: Optional[dict[str, dict[str, str]]] = None
    error_materializer_ref: Optional[CallableRef] = None
    requires_sync_runner: bool
    requires_async_runner: bool
    exports: Optional[str] = None


def contract_json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract (printed by ``synaflow schema``)."""
    return DagContract.model_json_schema()


def _names():
    from .signatures import callable_name, qualified_ref
    from .type_compatibility import get_type_name

    return callable_name, qualified_ref, get_type_name


def _spec(obj: Any) -> dict[str, Any] | None:
    from .default_materializers import callable_ref

    return None if obj is None else callable_ref(obj)


def _observers(entries: tuple) -> list[dict[str, Any]]:
    callable_name, _, _ = _names()
    out = []
    for obs in entries:
        entry = {"handler_name": callable_name(obs.handler) or "handler", "source": obs.source}
        spec = _spec(obs.handler)
        if spec is not None:
            entry["handler_ref"] = spec
        out.append(entry)
    return out


def _binding(b: Any) -> dict[str, Any]:
    _, qualified_ref, _ = _names()
    entry: dict[str, Any] = {"param": b.param, "producer": b.producer}
    if b.attr is not None:
        entry["attr"] = b.attr
        ref = qualified_ref(b.declared_type)
        if ref:
            entry["declared_type_ref"] = {"ref": ref}
    return entry


def step_to_dict(node: Any) -> dict[str, Any]:
    callable_name, qualified_ref, type_name = _names()
    kw: dict[str, Any] = dict(
        deps={k: type_name(v) for k, v in node.deps.items()},
        output=type_name(node.output), fn=callable_name(node.fn),
        on_error=node.on_error.value, mode=node.mode.value,
        materializer=callable_name(node.materializer),
        error_materializer=callable_name(node.error_materializer),
        each_mode_deps=list(node.each_mode_deps), pipeline=node.pipeline,
        parent_pipeline=node.parent_pipeline, max_in_flight=node.max_in_flight)
    _optional(kw, node)
    kw.update(output_contract=_slots(node.output_contract), publish_plan=_slots(node.publish_plan),
              fn_kind=node.fn_kind, pipeline_scope=node.pipeline_scope,
              step_index_in_scope=node.step_index_in_scope,
              step_total_in_scope=node.step_total_in_scope,
              materialized_deps=list(node.materialized_deps), fn_ref=qualified_ref(node.fn),
              bindings=[_binding(b) for b in node.bindings])
    _additions(kw, node)
    return kw


def _optional(kw: dict[str, Any], node: Any) -> None:
    if node.materialize_output:
        kw["needs_materialize_reasons"] = list(node.materialize_reasons)
    if node.observers:
        kw["observers"] = _observers(node.observers)
    if node.dataset_param_names:
        kw["dataset_param_names"] = dict(node.dataset_param_names)
    if node.error_threshold_absolute is not None:
        kw["error_threshold_absolute"] = node.error_threshold_absolute
    if node.error_threshold_pct is not None:
        kw["error_threshold_pct"] = node.error_threshold_pct
    if node.consumer_contracts:
        kw["consumer_contracts"] = [_slots(c) for c in node.consumer_contracts]
    if node.async_stream_deps:
        kw["async_stream_deps"] = list(node.async_stream_deps)


def _additions(kw: dict[str, Any], node: Any) -> None:
    for key, value in (("materializer_ref", _spec(node.materializer)),
                       ("error_materializer_ref", _spec(node.error_materializer))):
        if value is not None:
            kw[key] = value
    for flag in ("force_materialize", "exported", "is_adapter"):
        if getattr(node, flag):
            kw[flag] = True
    if node.max_in_flight_bytes is not None:
        kw["max_in_flight_bytes"] = node.max_in_flight_bytes
    if node.ray_options:
        kw["ray_options"] = dict(node.ray_options)
    if node.description:
        kw["description"] = node.description


def _slots(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def dag_to_dict(dag: Any) -> dict[str, Any]:
    """The contract of ``dag`` as plain JSON-ready data (deterministic)."""
    callable_name, qualified_ref, type_name = _names()
    kw: dict[str, Any] = dict(
        name=dag.name, params={k: type_name(v) for k, v in dag.params.items()},
        steps={name: StepContract(**step_to_dict(node)) for name, node in dag.steps.items()})
    if dag.resource_types:
        kw["resources"] = {k: type_name(v) for k, v in dag.resource_types.items()}
        kw["resource_refs"] = {k: qualified_ref(f) for k, f in dag.resource_factories.items()}
    if dag.resource_params:
        kw["resource_params"] = {r: dict(sorted(w.items()))
                                 for r, w in sorted(dag.resource_params.items())}
    kw["error_materializer"] = callable_name(dag.error_materializer_factory)
    if dag.pipeline_observers:
        kw["pipeline_observers"] = _observers(dag.pipeline_observers)
    kw.update(scope_step_totals=dict(dag.scope_step_totals), contract_version=CONTRACT_VERSION,
              params_ref=qualified_ref(dag.params_type),
              requires_sync_runner=dag.requires_sync_runner,
              requires_async_runner=dag.requires_async_runner)
    spec = _spec(dag.error_materializer_factory)
    if spec is not None:
        kw["error_materializer_ref"] = spec
    if dag.exports:
        kw["exports"] = dag.exports
    return DagContract(**kw).model_dump(mode="json", exclude_unset=True)
