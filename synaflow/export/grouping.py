"""Which steps run together in one slice, decided from the contract alone (issue 25, item 5).

A lazy stream cannot cross a process boundary: a generator, the EACH chain it feeds,
its fan-out branches and the zips that read several streams in lockstep must run in
the same process. Materialized and value edges can cross (through the store). So:

- ``group="components"`` (the default): one group per *streaming component*, the
  steps joined by lazy stream edges; a group that would both feed and read another
  (a value taken out of a component and read back into it) is merged with it, so the
  groups always run in a topological order;
- ``group="steps"``: one group per step, refused with an error naming the edge when a
  stream would cross;
- ``group="pipeline"``: one group.

A group is named after its first step (in the Dag's topological order), so names are
stable as long as the contract is.

    >>> from typing import Iterator, NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def nums(n: int) -> Iterator[int]:
    ...     yield from range(n)
    >>> def sq(nums: int) -> int:
    ...     return nums * nums
    >>> def total(sq: list[int]) -> int:
    ...     return sum(sq)
    >>> p = pipeline(name="g", params=P, steps=[step("nums", fn=nums), step("sq", fn=sq),
    ...                                         step("total", fn=total)])
    >>> [(g.name, g.steps) for g in groups(p.dag)]
    [('nums', ('nums', 'sq')), ('total', ('total',))]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.exceptions import InternalError, PipelineDefinitionError

__all__ = ["Group", "groups", "stream_edges", "GROUPINGS"]

GROUPINGS = ("components", "steps", "pipeline")


@dataclass(frozen=True)
class Group:
    """Steps that run in one slice, in the Dag's topological order."""

    name: str
    steps: tuple[str, ...]


def stream_edges(dag: Any) -> list[tuple[str, str]]:
    """``(producer, consumer)`` step pairs joined by a lazy stream (not collected)."""
    return [(producer, consumer) for consumer in dag.steps
            for producer in dag.step_dependencies(consumer)
            if dag.steps[producer].is_stream and not dag.steps[producer].materialize_output]


def _order(dag: Any) -> list[str]:
    return [name for level in dag.get_execution_levels() for name in level]


def groups(dag: Any, group: str = "components") -> list[Group]:
    """The slices of ``dag`` for ``group``, in an order in which they can run."""
    dag = getattr(dag, "dag", dag)
    order = _order(dag)
    if group == "pipeline":
        return [Group(order[0], tuple(order))] if order else []
    if group == "steps":
        crossing = stream_edges(dag)
        if crossing:
            producer, consumer = crossing[0]
            raise PipelineDefinitionError(
                f"group='steps' would put step '{producer}' and step '{consumer}' in "
                f"different processes, but '{consumer}' reads '{producer}' as a lazy stream, "
                "which cannot cross a process boundary", pipeline=dag.name, step=consumer,
                fix=f"use group='components' (the default), or have '{consumer}' take "
                    f"list[...] so that '{producer}' is collected into the store")
        return [Group(name, (name,)) for name in order]
    if group != "components":
        raise ValueError(f"group must be one of {', '.join(map(repr, GROUPINGS))}, "
                         f"got {group!r}")
    return _components(dag, order)


def _components(dag: Any, order: list[str]) -> list[Group]:
    owner = {name: name for name in order}

    def find(name: str) -> str:
        while owner[name] != name:
            owner[name] = owner[owner[name]]
            name = owner[name]
        return name

    def join(a: str, b: str) -> bool:
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        first, second = sorted((ra, rb), key=order.index)
        owner[second] = first
        return True

    for producer, consumer in stream_edges(dag):
        join(producer, consumer)
    while _merge_cycles(dag, order, find, join):
        pass
    members: dict[str, list[str]] = {}
    for name in order:
        members.setdefault(find(name), []).append(name)
    ranked = _ranked(dag, members, find)
    return [Group(root, tuple(members[root])) for root in ranked]


def _group_edges(dag: Any, order: list[str], find: Any) -> dict[str, set[str]]:
    after: dict[str, set[str]] = {find(n): set() for n in order}
    for consumer in order:
        for producer in dag.step_dependencies(consumer):
            if find(producer) != find(consumer):
                after[find(producer)].add(find(consumer))
    return after


def _merge_cycles(dag: Any, order: list[str], find: Any, join: Any) -> bool:
    """Merge groups that reach each other (then no order could run them); True when
    something was merged."""
    after = _group_edges(dag, order, find)
    for start in after:
        reach = _reachable(after, start)
        if start in reach:  # on a cycle: merge it with every group on one with it
            for other in reach - {start}:
                if start in _reachable(after, other):
                    join(start, other)
            return True
    return False


def _reachable(after: dict[str, set[str]], start: str) -> set[str]:
    """The groups reachable from ``start`` by one edge or more."""
    seen: set[str] = set()
    todo = list(after[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(after[node])
    return seen


def _ranked(dag: Any, members: dict[str, list[str]], find: Any) -> list[str]:
    """Groups in a topological order (ties: the order of their first steps)."""
    before: dict[str, set[str]] = {root: set() for root in members}
    for root, names in members.items():
        for name in names:
            for producer in dag.step_dependencies(name):
                if find(producer) != root:
                    before[root].add(find(producer))
    ranked: list[str] = []
    placed: set[str] = set()
    roots = list(members)  # already in the order of their first steps
    while len(ranked) < len(roots):
        ready = [r for r in roots if r not in placed and before[r] <= placed]
        if not ready:  # cycles were merged above: this would be a bug
            raise InternalError(f"Pipeline '{dag.name}': the groups "
                                f"{sorted(set(roots) - placed)} wait on each other")
        ranked.append(ready[0])
        placed.add(ready[0])
    return ranked
