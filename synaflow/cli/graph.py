"""``synaflow graph``: the compiled Dag as a Mermaid or Graphviz DOT flowchart.

Nodes are the params fields, the resources and the steps (EACH steps are marked);
every edge says how the consumer takes the value: ``each`` (one call per item),
``stream`` (a lazy iterator), ``materialized`` (collected first), plus the in-flight
bound when a hand-off holds more than one item.

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def double(n: int) -> int:
    ...     return 2 * n
    >>> print(to_mermaid(pipeline(name="d", params=P, steps=[step("double", fn=double)]).dag))
    flowchart LR
        p0[/"n: int"/]
        s0["double"]
        p0 --> s0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.types import StepMode
from .params import type_label


@dataclass(frozen=True)
class GraphNode:
    """``kind`` is ``param``, ``resource`` or ``step``; ``each`` marks EACH steps."""

    id: str
    kind: str
    label: str
    each: bool = False


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    label: str


def graph_of(dag: Any) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The flowchart as plain data: nodes in a stable order, then edges per consumer."""
    ids: dict[str, str] = {}
    nodes: list[GraphNode] = []
    for i, (name, tp) in enumerate(dag.params.items()):
        ids[name] = f"p{i}"
        nodes.append(GraphNode(f"p{i}", "param", f"{name}: {type_label(tp)}"))
    for i, name in enumerate(_resources(dag)):
        ids[name] = f"r{i}"
        nodes.append(GraphNode(f"r{i}", "resource", name))
    for i, (name, node) in enumerate(dag.steps.items()):
        ids[name] = f"s{i}"
        each = node.mode is StepMode.EACH
        nodes.append(GraphNode(f"s{i}", "step", f"{name} [EACH]" if each else name, each))
    edges = [GraphEdge(ids[producer], ids[name], edge_label(dag, producer, name))
             for name, node in dag.steps.items() for producer in node.deps if producer in ids]
    return nodes, edges


def _resources(dag: Any) -> list[str]:
    names = list(dag.resource_types) + [r for r in dag.resource_factories
                                        if r not in dag.resource_types]
    return [r for r in names if r not in dag.params]


def edge_label(dag: Any, producer: str, consumer: str) -> str:
    """``each`` / ``stream`` / ``materialized`` (comma-joined) and the in-flight bound."""
    tags = []
    if producer in dag.steps[consumer].each_mode_deps:
        tags.append("each")
    node = dag.steps.get(producer)
    if node is not None:
        if node.materialize_output:
            tags.append("materialized")
        elif node.is_stream:
            tags.append("stream")
        plan = node.publish_plan
        if plan is not None and plan.handoff != "none" and plan.max_in_flight > 1:
            tags.append(f"max_in_flight={plan.max_in_flight}")
            if node.max_in_flight_bytes is not None:
                tags.append(f"max_in_flight_bytes={node.max_in_flight_bytes}")
    return ", ".join(tags)


# -- Mermaid -------------------------------------------------------------------------------
def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _mermaid_node(n: GraphNode) -> str:
    label = f'"{_mermaid_text(n.label)}"'
    if n.kind == "param":
        return f"{n.id}[/{label}/]"
    if n.kind == "resource":
        return f"{n.id}[({label})]"
    return f"{n.id}[[{label}]]" if n.each else f"{n.id}[{label}]"


def to_mermaid(dag: Any) -> str:
    """A Mermaid ``flowchart LR``: params as parallelograms, resources as cylinders,
    EACH steps as subroutine boxes."""
    nodes, edges = graph_of(dag)
    lines = ["flowchart LR"]
    lines += [f"    {_mermaid_node(n)}" for n in nodes]
    for e in edges:
        arrow = f'-->|"{_mermaid_text(e.label)}"|' if e.label else "-->"
        lines.append(f"    {e.source} {arrow} {e.target}")
    return "\n".join(lines)


# -- Graphviz DOT --------------------------------------------------------------------------------
def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_SHAPES = {"param": "parallelogram", "resource": "cylinder", "step": "box"}


def to_dot(dag: Any) -> str:
    """A Graphviz ``digraph``; EACH steps are drawn with a double border."""
    nodes, edges = graph_of(dag)
    lines = [f"digraph {_dot_text(dag.name)} {{", "    rankdir=LR;"]
    for n in nodes:
        extra = ", peripheries=2" if n.each else ""
        lines.append(f"    {n.id} [label={_dot_text(n.label)}, shape={_DOT_SHAPES[n.kind]}"
                     f"{extra}];")
    for e in edges:
        label = f" [label={_dot_text(e.label)}]" if e.label else ""
        lines.append(f"    {e.source} -> {e.target}{label};")
    lines.append("}")
    return "\n".join(lines)
