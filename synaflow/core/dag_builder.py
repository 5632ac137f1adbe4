"""``build_dag``: the single compiler from a ``pipeline(...)`` definition to a frozen Dag.

Order of work: pipeline-level checks -> include expansion -> wiring of every step
(names, types, modes) -> consumers -> materialization and materializers ->
consumer contracts and publish plans -> deadlock, sync/async and resource checks
-> scopes. Every problem a user can cause raises ``PipelineDefinitionError``.
"""
from __future__ import annotations

from typing import Any

from .compiler.build_state import BuildNode
from .constants import SCOPE_SEPARATOR
from .dag import Dag, DagNode
from .default_materializers import (log_error_materializer_factory,
                                    memory_materializer_factory)
from .exceptions import PipelineDefinitionError
from .compiler.expansion import FlatStep, flat_from_include, flat_from_step, resolve_observers
from .scoped import scoped_fn
from .frozen import FrozenDict
from .naming import get_base_dataset_name
from .compiler.planning import (check_asymmetric_lockstep, check_materializing_consumers,
                       consumption, materialize_reasons, materializer_context,
                       output_contract, publish_plan, shape)
from .ray_options import validate_ray_options
from .compiler.resource_wiring import wire_resources
from .signatures import (each_output_type, fn_kind, function_hints, output_annotation,
                         parameters)
from .type_compatibility import (ListType, get_type_name, is_async_stream_type,
                                 is_iterable_type, is_stream_type, is_sync_stream_type)
from .types import ErrorMaterializeContext, OnError, StepMode
from .compiler.validation import (check_byte_bounds, check_handler_shapes, check_pipeline_basics,
                         check_resources, check_step_settings, check_terminal_streams,
                         lift_resources, step_byte_bound, warn_unused_params,
                         check_location_templates)
from .compiler.wiring import (Produced, check_binding, compatible, each_mode_deps, resolve_bindings,
                     resolve_mode)

__all__ = ["build_dag", "memory_materializer_factory", "log_error_materializer_factory"]


def build_dag(pipeline_def: Any) -> Dag:
    """Compile and validate a pipeline definition into a frozen ``Dag``."""
    name, params = check_pipeline_basics(pipeline_def)
    flat = _expand(pipeline_def, name)
    resources, resource_types = lift_resources(pipeline_def, flat, name)
    _check_names(flat, params, resource_types, name)
    nodes = _wire(flat, params, resource_types, name, pipeline_def.materializer)
    _link_consumers(nodes)
    check_resources(nodes, resource_types, name)
    check_terminal_streams(nodes, pipeline_def.exports, name)
    flags = _runner_flags(nodes, name)
    _plan_materialization(nodes, pipeline_def, name, flags)
    check_byte_bounds(nodes, name)
    check_asymmetric_lockstep(nodes, name)
    pipeline_observers = resolve_observers(pipeline_def.observers, "pipeline",
                                           pipeline=name, step=None)
    error_factory = pipeline_def.error_materializer or log_error_materializer_factory
    _resolve_error_materializers(nodes, pipeline_def, name, flags)
    check_handler_shapes(nodes, pipeline_observers, flags[1], name)
    totals = _assign_scopes(nodes)
    resource_params = wire_resources(resources, params, pipeline_def.params, name)
    in_paths = check_location_templates(nodes, params, pipeline_def.params, name)
    warn_unused_params(nodes, params, pipeline_def.params, name, also_read=in_paths | {
        f for wired in resource_params.values() for f in wired.values()})
    steps = FrozenDict((n, _freeze(node, pipeline_observers)) for n, node in nodes.items())
    resolved_flat = tuple(_with_bindings(f, nodes[f.name]) for f in flat)
    return Dag(name=name, params=FrozenDict(params), steps=steps,
               resource_factories=FrozenDict(resources),
               resource_params=FrozenDict((r, FrozenDict(w)) for r, w in resource_params.items()),
               requires_sync_runner=flags[0], requires_async_runner=flags[1],
               error_materializer_factory=error_factory,
               pipeline_observers=pipeline_observers, scope_step_totals=FrozenDict(totals),
               params_type=pipeline_def.params, resource_types=FrozenDict(resource_types),
               exports=pipeline_def.exports, description=pipeline_def.description,
               flat=resolved_flat)


def _expand(pipeline_def: Any, root: str) -> list[FlatStep]:
    from .steps import IncludeStep, Step

    out: list[FlatStep] = []
    if not isinstance(pipeline_def.steps, (list, tuple)):
        raise PipelineDefinitionError(
            f"'steps' must be a list of step(...)/include(...), found "
            f"{type(pipeline_def.steps).__name__}", pipeline=root,
            fix="pass steps=[step('name', fn=...), ...]")
    for index, entry in enumerate(pipeline_def.steps):
        if isinstance(entry, Step):
            _check_declared_name(entry.name, root, "step")
            out.append(flat_from_step(entry, root=root))
        elif isinstance(entry, IncludeStep):
            _check_declared_name(entry.name, root, "include")
            out.extend(flat_from_include(entry, root=root, chain=(id(pipeline_def),)))
        else:
            raise PipelineDefinitionError(
                f"steps[{index}] is a {type(entry).__name__}, not a step(...) or include(...)",
                pipeline=root, fix="wrap functions as step('name', fn=function)")
    return out


def _check_declared_name(step_name: Any, root: str, what: str) -> None:
    if not isinstance(step_name, str) or not step_name:
        raise PipelineDefinitionError(
            f"a {what} name must be a non-empty string, found {step_name!r}", pipeline=root,
            fix=f"{what}('my_name', ...)")
    if SCOPE_SEPARATOR in step_name:
        raise PipelineDefinitionError(
            f"{what} name '{step_name}' contains '__', which is reserved for sub-pipeline "
            "name scoping", pipeline=root, step=step_name,
            fix="use a single underscore, e.g. '" + step_name.replace("__", "_") + "'")


def _check_names(flat: list[FlatStep], params: dict, resources: dict, root: str) -> None:
    seen: dict[str, str] = {}
    names: set[str] = set()
    for resource in resources:
        if resource in params:  # spec 02 §3: the resource would shadow the params value
            raise PipelineDefinitionError(
                f"resource '{resource}' collides with a params field of the same name",
                pipeline=root, fix="rename the resource or the params field")
    for f in flat:
        if f.name in names:
            raise PipelineDefinitionError(
                f"duplicate step name '{f.name}'", pipeline=root, step=f.name,
                fix="give every step (and include) a unique name")
        base = get_base_dataset_name(f.name)
        if base in seen:
            raise PipelineDefinitionError(
                f"steps '{seen[base]}' and '{f.name}' both map to Base Dataset '{base}', so "
                "parameters could not tell them apart", pipeline=root, step=f.name,
                fix="rename one of them (singular/plural and _list/_dict/_set/_tuple "
                    "suffixes name the same dataset)")
        seen[base] = f.name
        names.add(f.name)
        if f.name in params:
            raise PipelineDefinitionError(
                f"step name '{f.name}' collides with a params field of the same name; "
                "consumers could receive the params value instead of the step's output",
                pipeline=root, step=f.name, fix="rename the step or the params field")
        if f.name in resources:
            raise PipelineDefinitionError(
                f"resource '{f.name}' collides with a step name", pipeline=root, step=f.name,
                fix="rename the resource or the step")
        if not callable(f.fn):
            raise PipelineDefinitionError(
                f"must have a callable 'fn', found {type(f.fn).__name__}", pipeline=root,
                step=f.name, fix="pass fn=<a function>")


def _wire(flat: list[FlatStep], params: dict, resources: dict, root: str,
          pipeline_materializer: Any = None) -> dict[str, BuildNode]:
    table = Produced.start(params, resources)
    nodes: dict[str, BuildNode] = {}
    delivers: dict[str, Any] = {}
    reads = {f.name: parameters(f.fn) if f.bindings is None
             else [b.producer for b in f.bindings] for f in flat}
    for i, f in enumerate(flat):
        later = {g.name: reads[g.name] for g in flat[i + 1:]}
        node = _wire_one(f, table, root, delivers, later)
        table.add(f.name, node.output, "step")
        raw = f.materializer if f.materializer is not None else pipeline_materializer
        hook = getattr(raw, "__synaflow_delivers__", None)
        if hook is not None:
            delivers[f.name] = hook
        nodes[f.name] = node
    return nodes


def _delivered(bindings: tuple, table: Produced, delivers: dict[str, Any]) -> tuple[str, ...]:
    """Producers whose materializer hands this step a type the plain rules refuse or unroll.

    Extension point: a materializer (or factory) may define
    ``__synaflow_delivers__(declared_type) -> bool`` and shape its result per
    consumer at run time (``__synaflow_reshape__``, see ``engine.shapes``). Such a
    binding skips the type check, is never unrolled (EACH), and materializes its
    producer (``consumption == "materialized"``). Bindings the plain rules take
    as a stream or a collection keep those rules.
    """
    def by_materializer(b: Any) -> bool:
        plain = compatible(table.types[b.producer], b.declared_type) \
            and not each_mode_deps((b,), table.types)
        return not plain and bool(delivers[b.producer](b.declared_type))

    out = [b.producer for b in bindings if b.producer in delivers
           and b.declared_type is not None and by_materializer(b)]
    return tuple(dict.fromkeys(out))


def _wire_one(f: FlatStep, table: Produced, root: str, delivers: dict[str, Any],
              later: dict[str, list[str]]) -> dict[str, Any]:
    check_step_settings(f, root)
    byte_bound = step_byte_bound(f, root)
    hints = function_hints(f.fn, pipeline=root, step=f.name)
    if f.bindings is None:
        bindings = resolve_bindings(parameters(f.fn), hints, table, pipeline=root, step=f.name,
                                    later=later)
    else:
        bindings = f.bindings
    for b in bindings:
        if b.producer not in table.types:
            raise PipelineDefinitionError(
                f"depends on '{b.producer}' but no resource, prior step, or params field "
                "produces it", pipeline=root, step=f.name, param=b.param,
                fix="declare the producer before this step")
    delivered = _delivered(bindings, table, delivers)
    for b in bindings:
        if b.producer not in delivered:
            check_binding(b, table.types[b.producer], pipeline=root, step=f.name)
    each = each_mode_deps(tuple(b for b in bindings if b.producer not in delivered),
                          table.types)
    mode = resolve_mode(f.mode, each, pipeline=root, step=f.name)
    declared_out = output_annotation(f.fn, hints)
    output = each_output_type(declared_out, pipeline=root, step=f.name) \
        if mode is StepMode.EACH else declared_out
    _check_thresholds(f, mode, root)
    return BuildNode(name=f.name, flat=f, fn=f.fn, bindings=bindings, each=each, mode=mode,
                     delivered=delivered, output=output, consumers=[],
                     force_materialize=bool(f.force_materialize),
                     max_in_flight=f.max_in_flight, fn_kind=fn_kind(f.fn),
                     max_in_flight_bytes=byte_bound,
                     step_producers=[b.producer for b in bindings
                                     if table.kinds.get(b.producer) == "step"])


def _check_thresholds(f: FlatStep, mode: StepMode, root: str) -> None:
    has = f.error_threshold_absolute is not None or f.error_threshold_pct is not None
    if has and mode is not StepMode.EACH:
        raise PipelineDefinitionError(
            "has an error threshold but resolves to mode=ALL; thresholds count failed "
            "items of EACH steps", pipeline=root, step=f.name,
            fix="remove error_threshold_* or let the step consume items one by one")


def _link_consumers(nodes: dict[str, BuildNode]) -> None:
    for name, node in nodes.items():
        for producer in dict.fromkeys(node.step_producers):
            nodes[producer].consumers.append(name)


def _runner_flags(nodes: dict[str, BuildNode], root: str) -> tuple[bool, bool]:
    types = [n.output for n in nodes.values()]
    types += [b.declared_type for n in nodes.values() for b in n.bindings]
    sync_stream = any(is_sync_stream_type(t) for t in types if t is not None)
    async_kind = any(n.fn_kind in ("async", "async_generator") for n in nodes.values())
    async_stream = any(is_async_stream_type(t) for t in types if t is not None)
    if (async_kind or async_stream) and sync_stream:
        raise PipelineDefinitionError(
            "is UNRUNNABLE: it mixes async steps or AsyncIterator types with synchronous "
            "Iterator/Generator types", pipeline=root,
            fix="use AsyncIterator/AsyncGenerator everywhere in an async pipeline, or "
                "plain def steps with Iterator everywhere")
    return sync_stream, async_kind or async_stream


def _plan_materialization(nodes: dict[str, BuildNode], pipeline_def: Any, root: str,
                          flags: tuple[bool, bool]) -> None:
    for name, node in nodes.items():
        reasons = materialize_reasons(name, node, nodes)
        node.reasons = reasons
        node.materialize_output = bool(reasons)
    for node in nodes.values():
        node.materialized_deps = tuple(p for p in dict.fromkeys(node.step_producers)
                                       if nodes[p].materialize_output)
        _resolve_materializer(node, nodes, pipeline_def, root, flags[1])
        contracts = tuple(_consumer_contract(node, nodes[c]) for c in node.consumers)
        node.contracts = contracts
        node.output_contract = output_contract(node, nodes, flags[1], contracts)
        node.publish_plan = publish_plan(node, node.output_contract)
        node.async_stream_deps = tuple(b.producer for b in node.bindings
                                          if is_async_stream_type(b.declared_type))


def _consumer_contract(producer: BuildNode, consumer: BuildNode) -> Any:
    from .dag import ConsumerContract

    return ConsumerContract(consumer.name, consumption(producer.name, consumer),
                            shape(producer.name, consumer))  # type: ignore[arg-type]


def _resolve_materializer(node: BuildNode, nodes: dict[str, BuildNode], pipeline_def: Any,
                          root: str, is_async: bool) -> None:
    from .default_materializers import resolve_factory

    raw = node.flat.materializer
    if raw is None and (node.consumers or node.force_materialize):
        raw = pipeline_def.materializer  # a terminal step only when it asks to be materialized
    if raw is None:
        raw = _default_materializer(node)
    node.default_materializer = raw is memory_materializer_factory
    if raw is not None and not callable(raw):
        from .exceptions import PipelineShapeError

        raise PipelineShapeError(f"materializer for step '{node.name}' is not callable "
                                 f"(got {raw!r})", pipeline=root,
                                 step=node.name, fix="pass a function or a factory")
    if raw is not None and not node.default_materializer and node.materialize_output \
            and getattr(raw, "__synaflow_delivers__", None) is None:
        # A materializer that shapes its result per consumer serves differing types.
        check_materializing_consumers(node, nodes, root)
    ctx = materializer_context(node, nodes, root, is_async)
    node.materializer = None if raw is None else resolve_factory(raw, ctx)


def _default_materializer(node: BuildNode) -> Any:
    out = node.output
    if not node.consumers or isinstance(out, ListType):
        return None
    if out is None or is_stream_type(out):
        return memory_materializer_factory
    return None


def _resolve_error_materializers(nodes: dict[str, BuildNode], pipeline_def: Any, root: str,
                                 flags: tuple[bool, bool]) -> None:
    from .default_materializers import resolve_factory

    for name, node in nodes.items():
        raw = node.flat.error_materializer or pipeline_def.error_materializer \
            or log_error_materializer_factory
        if not callable(raw):
            from .exceptions import PipelineShapeError

            raise PipelineShapeError(f"error materializer for step '{name}' is not "
                                     f"callable (got {raw!r})",
                                     pipeline=root, step=name,
                                     fix="pass a function taking an ErrorContext")
        ctx = ErrorMaterializeContext(root, name, is_async_pipeline=flags[1])
        node.error_materializer = resolve_factory(raw, ctx)


def _assign_scopes(nodes: dict[str, BuildNode]) -> dict[str, int]:
    from .topology import execution_levels

    levels = execution_levels(nodes, lambda n: nodes[n].step_producers)
    totals: dict[str, int] = {}
    for level in levels:
        for name in level:
            scope = nodes[name].flat.scope
            nodes[name].index_in_scope = totals.get(scope, 0)
            totals[scope] = totals.get(scope, 0) + 1
    for node in nodes.values():
        node.total_in_scope = totals[node.flat.scope]
    return totals


def _freeze(node: BuildNode, pipeline_observers: tuple) -> DagNode:
    f: FlatStep = node.flat
    deps: dict[str, Any] = {}
    renamed: dict[str, str] = {}
    for b in node.bindings:
        deps.setdefault(b.producer, b.declared_type)
        if b.param != b.producer and b.attr is None:
            renamed.setdefault(b.producer, b.param)
    return DagNode(
        name=node.name, output=node.output, deps=FrozenDict(deps),
        fn=scoped_fn(f.fn, node.bindings,
                     included=f.parent_pipeline is not None and not f.is_adapter),
        on_error=f.on_error, mode=node.mode, each_mode_deps=node.each,
        dataset_param_names=FrozenDict(renamed), bindings=node.bindings,
        materializer=node.materializer, error_materializer=node.error_materializer,
        materialize_output=node.materialize_output, materialize_reasons=node.reasons,
        materialized_deps=node.materialized_deps,
        default_materializer=node.default_materializer,
        force_materialize=node.force_materialize, pipeline=f.pipeline,
        parent_pipeline=f.parent_pipeline, observers=pipeline_observers + f.observers,
        max_in_flight=f.max_in_flight, error_threshold_absolute=f.error_threshold_absolute,
        error_threshold_pct=f.error_threshold_pct, output_contract=node.output_contract,
        consumer_contracts=node.contracts, publish_plan=node.publish_plan,
        fn_kind=node.fn_kind, async_stream_deps=node.async_stream_deps,
        pipeline_scope=f.scope, step_index_in_scope=node.index_in_scope,
        step_total_in_scope=node.total_in_scope, consumers=tuple(node.consumers),
        is_adapter=f.is_adapter, exported=f.exported,
        ray_options=FrozenDict(validate_ray_options(f.ray, pipeline=f.pipeline,
                                                    step=node.name)),
        description=f.description, max_in_flight_bytes=node.max_in_flight_bytes)


def _with_bindings(f: FlatStep, node: BuildNode) -> FlatStep:
    from dataclasses import replace

    return replace(f, bindings=node.bindings)


# Re-exported for ``synaflow.core.dag_builder`` users (0.32.4 module path).
_ = (get_type_name, is_iterable_type, OnError)
