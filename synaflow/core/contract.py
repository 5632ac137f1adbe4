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

from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional

from pydantic import BaseModel, ConfigDict, PositiveInt, create_model

from .frozen import FrozenDict
from .records import ConsumerContract, OutputContract, PublishPlan
from .types import OnError, StepMode

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


@dataclass(frozen=True)
class Key:
    """One key of a step's contract: its JSON type, how ``to_dict`` writes it from a
    ``DagNode`` (``dump``; ``OMIT`` leaves an optional key out), and the ``DagNode``
    fields ``from_dict`` reads back from it (``load``; None for keys the loader
    resolves itself, from imported functions: ``_RESOLVED``)."""

    name: str
    annotation: Any
    dump: Callable[[Any], Any]
    load: Callable[[Any], dict[str, Any]] | None = None
    optional: bool = False


OMIT = object()


def _same(attr: str, annotation: Any, *, out: Callable[[Any], Any] = lambda v: v,
          back: Callable[[Any], Any] = lambda v: v) -> Key:
    """A key holding one DagNode field, converted on the way out and back."""
    return Key(attr, annotation, lambda node: out(getattr(node, attr)),
               lambda value: {attr: back(value)})


def _unless(attr: str, annotation: Any, empty: Callable[[Any], bool], *,
            out: Callable[[Any], Any] = lambda v: v,
            back: Callable[[Any], Any] = lambda v: v) -> Key:
    """An optional key, left out when ``empty(field)``; reads back ``back(None)`` then."""
    def dump(node: Any) -> Any:
        value = getattr(node, attr)
        return OMIT if empty(value) else out(value)
    return Key(attr, Optional[annotation], dump, lambda value: {attr: back(value)},
               optional=True)


def _is_none(value: Any) -> bool:
    return value is None


def _is_empty(value: Any) -> bool:
    return not value


def _resolved(name: str, annotation: Any, dump: Callable[[Any], Any], *,
              optional: bool = False) -> Key:
    """A key written for readers and other processes; the loader rebuilds the fields
    behind it from imported functions (``contract_load``)."""
    if optional:
        annotation = Optional[annotation]
    return Key(name, annotation, dump, None, optional)


def _tuple(value: Any) -> tuple:
    return tuple(value or ())


def _frozen(value: Any) -> Any:
    return FrozenDict(value or {})


def _record(cls: type) -> Callable[[Any], Any]:
    return lambda value: cls(**value)


def _flag(attr: str) -> Key:
    return _unless(attr, bool, _is_empty, out=lambda v: True, back=bool)


def _reasons(node: Any) -> Any:
    return list(node.materialize_reasons) if node.materialize_output else OMIT


def _consumers(value: Any) -> dict[str, Any]:
    contracts = tuple(ConsumerContract(**c) for c in value or ())
    return {"consumer_contracts": contracts,
            "consumers": tuple(c.consumer_name for c in contracts)}


def _or_omit(value: Any) -> Any:
    return OMIT if value is None else value


def _type_names(node: Any) -> dict[str, str]:
    _, _, type_name = _names()
    return {k: type_name(v) for k, v in node.deps.items()}


def _ref_of(attr: str) -> Callable[[Any], Any]:
    return lambda node: _or_omit(_spec(getattr(node, attr)))


def _name_of(attr: str) -> Callable[[Any], Any]:
    return lambda node: _names()[0](getattr(node, attr))


# Keys and their order follow SynaFlow 0.32.4 (up to step_total_in_scope), then the
# additions: the one definition of a step's contract. ``StepContract`` (the pydantic
# model), ``step_to_dict`` and ``contract_load``'s reading of a step derive from it.
STEP_KEYS: tuple[Key, ...] = (
    _resolved("deps", dict[str, str], _type_names),
    _resolved("output", str, lambda node: _names()[2](node.output)),
    _resolved("fn", Optional[str], _name_of("fn")),
    _same("on_error", Literal["continue", "stop"], out=lambda v: v.value, back=OnError),
    _same("mode", Literal["each", "all"], out=lambda v: v.value, back=StepMode),
    _resolved("materializer", Optional[str], _name_of("materializer")),
    _resolved("error_materializer", Optional[str], _name_of("error_materializer")),
    _same("each_mode_deps", list[str], out=list, back=tuple),
    _same("pipeline", str),
    _same("parent_pipeline", Optional[str]),
    _same("max_in_flight", int),
    Key("needs_materialize_reasons", Optional[list[str]], _reasons,
        lambda v: {"materialize_output": bool(v), "materialize_reasons": _tuple(v)}, True),
    _resolved("observers", list[ObserverEntry],
              lambda node: _observers(node.observers) if node.observers else OMIT,
              optional=True),
    _unless("dataset_param_names", dict[str, str], _is_empty, out=dict, back=_frozen),
    _unless("error_threshold_absolute", int, _is_none),
    _unless("error_threshold_pct", float, _is_none),
    _same("output_contract", OutputContractModel, out=lambda v: _slots(v),
          back=_record(OutputContract)),
    Key("consumer_contracts", Optional[list[ConsumerContractModel]],
        lambda node: [_slots(c) for c in node.consumer_contracts]
        if node.consumer_contracts else OMIT, _consumers, True),
    _same("publish_plan", PublishPlanModel, out=lambda v: _slots(v),
          back=_record(PublishPlan)),
    _same("fn_kind", Literal["sync", "sync_generator", "async", "async_generator"]),
    _unless("async_stream_deps", list[str], _is_empty, out=list, back=_tuple),
    _same("pipeline_scope", str),
    _same("step_index_in_scope", int),
    _same("step_total_in_scope", int),
    _same("materialized_deps", list[str], out=list, back=tuple),
    _resolved("fn_ref", Optional[str], lambda node: _names()[1](node.fn)),
    _resolved("bindings", list[BindingModel], lambda node: [_binding(b) for b in node.bindings]),
    _resolved("materializer_ref", CallableRef, _ref_of("materializer"), optional=True),
    _resolved("error_materializer_ref", CallableRef, _ref_of("error_materializer"),
              optional=True),
    _flag("force_materialize"),
    _flag("exported"),
    _flag("is_adapter"),
    _unless("max_in_flight_bytes", PositiveInt, _is_none),
    _unless("ray_options", dict[str, Any], _is_empty, out=dict, back=_frozen),
    _unless("description", str, _is_empty, back=lambda v: v or ""),
)

StepContract = create_model(
    "StepContract", __base__=_Model, __module__=__name__,
    **{k.name: (k.annotation, None if k.optional else ...) for k in STEP_KEYS})
StepContract.__doc__ = "One step. Keys and their order follow SynaFlow 0.32.4, then the additions."


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
    """A step's contract entry (``STEP_KEYS`` in order, optional keys left out when empty)."""
    out = {}
    for key in STEP_KEYS:
        value = key.dump(node)
        if value is not OMIT:
            out[key.name] = value
    return out


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
