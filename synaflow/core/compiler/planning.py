"""Execution plan: materialization, materializers, consumer contracts, publication.

All of it is decided here, at build time, and frozen into each ``DagNode``.
"""
from __future__ import annotations

import collections.abc as cabc
import typing
from typing import Any

from ..dag import ConsumerContract, OutputContract, PublishPlan
from .build_state import BuildNode
from ..exceptions import PipelineDefinitionError
from ..type_compatibility import (ListType, get_type_name, is_async_stream_type,
                                 is_iterable_type, is_materialized_type,
                                 is_sync_stream_type, is_type_compatible, origin_of)
from ..types import MaterializeContext, StepMode

_SHAPES = {list: "list", set: "set", frozenset: "set", tuple: "tuple", dict: "dict"}
_ABC_SHAPES = ((cabc.MutableSequence, "list"), (cabc.MutableSet, "set"),
               (cabc.MutableMapping, "dict"))


def materialize_reasons(name: str, node: BuildNode, nodes: dict[str, BuildNode]) -> tuple:
    """Why producer ``name`` is collected before publication (sorted; empty = lazy)."""
    reasons = set()
    if node.force_materialize:
        reasons.add("producer_force_materialize")
    if node.flat.materializer is not None:
        reasons.add("step_materializer")  # a materializer the user names is always applied
    for consumer in node.consumers:
        c = nodes[consumer]
        if any(b.producer == name and is_materialized_type(b.declared_type)
               and name not in c.each for b in c.bindings) \
                or name in c.delivered:
            reasons.add("consumer_requires_materialized_type")
        if c.force_materialize:
            reasons.add("consumer_force_materialize")
        if _is_stream_producer(node) and name not in c.each and any(
                b.producer == name and b.declared_type is None for b in c.bindings):
            reasons.add("consumer_unannotated")  # a barrier: it receives the collected list
    return tuple(sorted(reasons))


def _is_stream_producer(node: BuildNode) -> bool:
    out = node.output
    return node.mode is StepMode.EACH or is_sync_stream_type(out) \
        or is_async_stream_type(out)


def declared_for(consumer: BuildNode, producer: str) -> Any:
    """The consumer's declared type for ``producer`` (first binding)."""
    for b in consumer.bindings:
        if b.producer == producer:
            return b.declared_type
    return None


def consumption(producer: str, consumer: BuildNode) -> str:
    if consumer.mode is StepMode.EACH:
        return "item"
    if producer in consumer.delivered:  # the materializer delivers its type
        return "materialized"
    declared = declared_for(consumer, producer)
    if is_materialized_type(declared):
        return "materialized"
    if declared is not None and is_iterable_type(declared):
        return "stream"
    return "barrier_only"


def shape(producer: str, consumer: BuildNode) -> str:
    """What a consumer of a materialized producer receives (see ConsumerContract)."""
    if producer in consumer.each:
        return "items"
    declared = declared_for(consumer, producer)
    if declared is None:
        return "list"  # an unannotated consumer is a barrier over the collected items
    origin = origin_of(declared)
    if origin in _SHAPES:
        return _SHAPES[origin]
    if isinstance(origin, type):
        for abc, name in _ABC_SHAPES:
            if issubclass(origin, abc):
                return name
    if is_async_stream_type(declared) or origin in (cabc.AsyncIterable,):
        return "aiter"
    if is_sync_stream_type(declared) or origin in (cabc.Iterable,):
        return "iter"
    return "as_is"


def consumer_type_for_factory(node: BuildNode, nodes: dict[str, BuildNode]) -> Any:
    """The consumer type a materializer factory is resolved for (06 §2 step 3)."""
    consumers = [nodes[c] for c in node.consumers]
    for c in consumers:
        declared = declared_for(c, node.name)
        if is_materialized_type(declared) and node.name not in c.each:
            return declared
    if consumers:
        return _normalise_stream_consumer(declared_for(consumers[0], node.name))
    if node.force_materialize:
        return list  # a terminal step that asks to be materialized is collected into a list
    return None


def _normalise_stream_consumer(tp: Any) -> Any:
    """A ``Generator[...]`` stream consumer reads like ``Iterator[...]``; an unannotated
    one is a barrier that receives the collected ``list``.

    0.32.4 refused both ("Cannot infer memory materializer").
    """
    if tp is None:
        return list
    origin = typing.get_origin(tp)
    if origin is cabc.Generator:
        return cabc.Iterator[typing.get_args(tp)[0]]  # type: ignore[index]
    if origin is cabc.AsyncGenerator:
        return cabc.AsyncIterator[typing.get_args(tp)[0]]  # type: ignore[index]
    return tp


def check_materializing_consumers(node: BuildNode, nodes: dict[str, BuildNode],
                                  pipeline: str) -> None:
    """A custom materializer serves every consumer one object: their types must agree."""
    declared = [(c, declared_for(nodes[c], node.name)) for c in node.consumers]
    wanted = [(c, t) for c, t in declared if is_materialized_type(t)]
    for (c1, t1), (c2, t2) in zip(wanted, wanted[1:]):
        if not (is_type_compatible(t1, t2) or is_type_compatible(t2, t1)):
            raise PipelineDefinitionError(
                f"consumers '{c1}' ({get_type_name(t1)}) and '{c2}' ({get_type_name(t2)}) "
                "ask for incompatible materialized types, but its custom materializer "
                "gives every consumer the same object", pipeline=pipeline, step=node.name,
                fix="make the consumers' annotations agree, or drop the custom materializer "
                    "(the default one shapes the collection per consumer)")


def materializer_context(node: BuildNode, nodes: dict[str, BuildNode], pipeline: str,
                         is_async: bool) -> MaterializeContext:
    return MaterializeContext(pipeline_name=pipeline, dataset_name=node.name,
                              item_type=node.output,
                              consumer_type=consumer_type_for_factory(node, nodes),
                              is_async_pipeline=is_async)


def output_contract(node: BuildNode, nodes: dict[str, BuildNode], is_async: bool,
                    contracts: tuple[ConsumerContract, ...]) -> OutputContract:
    kind = runtime_kind(node, is_async)
    if kind == "value":
        return OutputContract("value", "immediate", "none")
    if not node.consumers or node.name.startswith("_"):
        drain = "terminal"
    elif all(c.consumption == "barrier_only" for c in contracts):
        drain = "barrier_only"
    else:
        drain = "none"
    return OutputContract(kind, "on_exhaustion", drain)  # type: ignore[arg-type]


def runtime_kind(node: BuildNode, is_async: bool) -> str:
    if node.mode is StepMode.EACH:
        return "async_stream" if is_async else "sync_stream"
    if is_async_stream_type(node.output):
        return "async_stream"
    if is_sync_stream_type(node.output):
        return "sync_stream"
    return "value"


def publish_plan(node: BuildNode, contract: OutputContract) -> PublishPlan:
    n = node.max_in_flight
    if contract.runtime_kind == "value" or contract.drain_policy != "none":
        return PublishPlan("publish_value", "none", n)
    if node.materialize_output:
        return PublishPlan("publish_materialized", "none", n)
    if contract.runtime_kind == "async_stream":
        return PublishPlan("publish_async_fanout", "async_queue", n)
    if len(node.consumers) >= 2:
        return PublishPlan("publish_sync_fanout", "sync_fanout", n)
    return PublishPlan("publish_stream", "bounded_iterator" if n > 1 else "none", n)


def _is_barrier(node: BuildNode) -> bool:
    out = node.output
    iterable = isinstance(out, ListType) or (out is not None and is_iterable_type(out))
    return node.materialize_output or not iterable


def check_asymmetric_lockstep(nodes: dict[str, BuildNode], pipeline: str) -> None:
    """A lazy fan-out re-joined through a barrier on only some paths would deadlock."""
    for name, node in nodes.items():
        if _is_barrier(node) or len(node.consumers) < 2:
            continue
        seen: dict[str, set[bool]] = {}
        stack = [(c, False) for c in node.consumers]
        visited: set[tuple[str, bool]] = set()
        while stack:
            current, barrier = stack.pop()
            if (current, barrier) in visited:
                continue
            visited.add((current, barrier))
            seen.setdefault(current, set()).add(barrier)
            if len(seen[current]) == 2:
                _raise_asymmetric(name, current, pipeline)
            passes = barrier or _is_barrier(nodes[current])
            stack.extend((c, passes) for c in nodes[current].consumers)


def _raise_asymmetric(fanout: str, join: str, pipeline: str) -> None:
    raise PipelineDefinitionError(
        f"Asymmetric lockstep materialization detected between fanout '{fanout}' and join "
        f"'{join}': one path from '{fanout}' to '{join}' collects the stream (a barrier) "
        "while another streams it lazily, so the run would deadlock", pipeline=pipeline,
        step=join, fix=f"set force_materialize=True on '{fanout}', or make the lazy path a "
                       f"barrier (e.g. have '{join}' ask for list[...])")
