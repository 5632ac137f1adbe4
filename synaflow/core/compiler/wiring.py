"""Wiring: parameters bound to producers by name, type checks, EACH/ALL modes.

The "produced" table lists, in this order, params fields, resources, then every
earlier step; exact names win, then the first producer with the same base name
(``get_base_dataset_name``), so a params field beats a resource beats a step.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from ..dag import Binding
from ..exceptions import PipelineDefinitionError
from ..naming import get_base_dataset_name
from ..type_compatibility import (ListType, admits_none, element_type, get_type_name,
                                 is_iterable_type, is_scalar_type, is_stream_type,
                                 is_type_compatible)
from ..types import StepMode

NoneType = type(None)


@dataclass
class Produced:
    """The producers visible to the next step: name -> (type, kind)."""

    types: dict[str, Any]
    kinds: dict[str, str]  # "param" | "resource" | "step"
    bases: dict[str, list[str]]

    @classmethod
    def start(cls, params: dict[str, Any], resources: dict[str, Any]) -> "Produced":
        table = cls({}, {}, {})
        for name, tp in params.items():
            table.add(name, tp, "param")
        for name, tp in resources.items():
            table.add(name, tp, "resource")
        return table

    def add(self, name: str, tp: Any, kind: str) -> None:
        self.types[name] = tp
        self.kinds[name] = kind
        self.bases.setdefault(get_base_dataset_name(name), []).append(name)

    def match(self, param: str) -> str | None:
        """Exact name first, then the first producer sharing the base name."""
        if param in self.types:
            return param
        candidates = self.bases.get(get_base_dataset_name(param))
        return candidates[0] if candidates else None


def resolve_bindings(params: list[str], hints: dict[str, Any], table: Produced, *,
                     pipeline: str, step: str,
                     later: dict[str, list[str]] | None = None) -> tuple[Binding, ...]:
    """Bind every parameter of a root-level step to a producer, by name.

    ``later``: the steps declared after this one and the names each reads, so that a
    parameter naming one of them is reported as such (and a cycle by its path).
    """
    bound: dict[str, str] = {}
    out = []
    for param in params:
        producer = table.match(param)
        if producer is None:
            raise _missing(param, hints.get(param), table, pipeline=pipeline, step=step,
                           later=later or {})
        if producer in bound:
            raise PipelineDefinitionError(
                f"has duplicate parameters: '{bound[producer]}' and '{param}' both bind to "
                f"'{producer}'", pipeline=pipeline, step=step, param=param,
                fix="rename one parameter so each producer is read once")
        if table.kinds[producer] == "step" and producer.startswith("_"):
            raise PipelineDefinitionError(
                f"depends on hidden step '{producer}'; steps whose name starts with '_' "
                "are never published, so this step could never run",
                pipeline=pipeline, step=step, param=param,
                fix=f"rename step '{producer}' without the leading underscore")
        bound[producer] = param
        out.append(Binding(param, producer, hints.get(param)))
    return tuple(out)


def _by_name(name: str, steps: Any) -> str | None:
    """The step ``name`` reads: the same name, else the first with its base name."""
    if name in steps:
        return name
    base = get_base_dataset_name(name)
    return next((s for s in steps if get_base_dataset_name(s) == base), None)


def _cycle(start: str, step: str, later: dict[str, list[str]]) -> list[str] | None:
    """The shortest path of reads from ``start`` back to ``step`` through later steps."""
    names = [step, *later]
    paths = {start: [start]}
    queue = [start]
    while queue:
        current = queue.pop(0)
        for read in later.get(current, ()):
            target = _by_name(read, names)
            if target == step:
                return paths[current] + [step]
            if target is not None and target not in paths:
                paths[target] = paths[current] + [target]
                queue.append(target)
    return None


def _missing(param: str, declared: Any, table: Produced, *, pipeline: str,
             step: str, later: dict[str, list[str]]) -> PipelineDefinitionError:
    after = _by_name(param, later)
    if after is not None:
        text = (f"depends on '{param}' but no resource, prior step, or params field "
                f"produces it: step '{after}' is declared after '{step}'")
        path = _cycle(after, step, later)
        if path is None:
            fix = f"move step '{after}' before step '{step}' in steps=[...]"
        else:
            text += f" and depends back on it (dependency cycle: {' → '.join([step, *path])})"
            fix = "break the cycle: one of these steps must not read the other's output"
        return PipelineDefinitionError(text, pipeline=pipeline, step=step, param=param,
                                       fix=fix)
    base = get_base_dataset_name(param)
    near = [k for k in table.types if base[:3] and get_base_dataset_name(k)[:3] == base[:3]]
    text = (f"depends on '{param}' but no resource, prior step, or params field "
            f"produces it")
    fix = "declare a step named '{0}' before this one, add a params field '{0}', or a " \
          "resource in resources={{}}".format(param)
    if declared is not None and getattr(declared, "__module__", "builtins") != "builtins":
        text += f" (type '{get_type_name(declared)}')"
        fix = (f"did you forget to declare it in resources={{'{param}': factory}}? "
               f"Objects like '{get_type_name(declared)}' usually come from there; or {fix}")
    if near:
        fix += f". Similar names that exist: {', '.join(near[:5])}"
    return PipelineDefinitionError(text, pipeline=pipeline, step=step, param=param, fix=fix)


def check_binding(b: Binding, producer_type: Any, *, pipeline: str, step: str) -> None:
    """Explicit-None and type compatibility of one binding."""
    declared = b.declared_type
    where = dict(pipeline=pipeline, step=step, param=b.param)
    # admits_none: ``X | None`` takes an explicit None like Optional[X] (0.32.4 refused it).
    if producer_type is NoneType and declared is not None \
            and not admits_none(declared) and declared is not NoneType:
        raise PipelineDefinitionError(
            f"expects {get_type_name(declared)} but '{b.producer}' produces explicit "
            "NoneType (it is annotated '-> None')", **where,
            fix=f"give '{b.producer}' a real return annotation, or declare "
                f"'{b.param}: Optional[...]'")
    if not (compatible(producer_type, declared)):
        raise PipelineDefinitionError(
            f"expects {get_type_name(declared)} but '{b.producer}' produces "
            f"{get_type_name(producer_type)}", **where, fix=_type_fix(b, producer_type))


def compatible(producer: Any, consumer: Any) -> bool:
    """0.32.4's rules, plus what they meant to allow: ``Any``, subclasses, int->float
    (for values, and for the items of a stream or collection read item by item)."""
    if is_type_compatible(producer, consumer):
        return True
    if consumer is Any:
        return True
    if isinstance(producer, type) and isinstance(consumer, type):
        return issubclass(producer, consumer) or (producer is int and consumer is float)
    if isinstance(producer, ListType) or is_iterable_type(producer):
        item = element_type(producer)
        return item is not None and is_scalar_type(consumer) and item is not producer \
            and compatible(item, consumer)
    members = typing.get_args(consumer) if _is_pep604(consumer) else ()
    return any(compatible(producer, m) for m in members)


def _is_pep604(tp: Any) -> bool:
    import types

    return isinstance(tp, types.UnionType)


def _type_fix(b: Binding, producer_type: Any) -> str:
    shown = get_type_name(producer_type)
    if is_stream_type(producer_type) or isinstance(producer_type, ListType):
        item = element_type(producer_type)
        if item is None or item is producer_type:
            return (f"annotate '{b.param}' with the item type to receive items one by one, "
                    f"'Iterator[...]' to stream them, or 'list[...]' to receive them all")
        name = get_type_name(item)
        return (f"annotate '{b.param}: list[{name}]' to receive them all, "
                f"'{b.param}: Iterator[{name}]' to stream them, or '{b.param}: {name}' to "
                "receive them one by one")
    return f"annotate '{b.param}: {shown}', or change what '{b.producer}' returns"


def each_mode_deps(bindings: tuple[Binding, ...], types: dict[str, Any]) -> tuple[str, ...]:
    """Producers unrolled item by item: iterable producer, scalar consumer."""
    out = []
    for b in bindings:
        producer_type = types.get(b.producer)
        if producer_type is not None and (isinstance(producer_type, ListType)
                                          or is_iterable_type(producer_type)) \
                and is_scalar_type(b.declared_type) and b.producer not in out:
            out.append(b.producer)
    return tuple(out)


def resolve_mode(requested: StepMode, each: tuple[str, ...], *, pipeline: str,
                 step: str) -> StepMode:
    """AUTO becomes EACH when some dependency is unrolled; forced modes are checked."""
    if requested is StepMode.EACH and not each:
        raise PipelineDefinitionError(
            "is forced to EACH mode but none of its dependencies can be consumed "
            "item-by-item (forced to EACH mode)", pipeline=pipeline, step=step,
            fix="annotate one parameter with the item type of a list/stream producer, "
                "or drop mode=StepMode.EACH")
    if requested is StepMode.ALL and each:
        raise PipelineDefinitionError(
            f"is forced to ALL mode but dependencies {list(each)} require EACH-mode "
            "consumption (forced to ALL mode)", pipeline=pipeline, step=step,
            fix="annotate those parameters as list[...] or Iterator[...] to receive "
                "them whole, or drop mode=StepMode.ALL")
    if requested not in (StepMode.AUTO, StepMode.EACH, StepMode.ALL):
        raise PipelineDefinitionError(
            f"mode must be a StepMode, found {requested!r}", pipeline=pipeline, step=step,
            fix="use StepMode.AUTO, StepMode.EACH or StepMode.ALL")
    return StepMode.EACH if each else StepMode.ALL
