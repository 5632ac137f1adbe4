"""include() expansion: a pipeline's step list flattened into ``FlatStep`` records.

A sub-pipeline is compiled (and validated) on its own when it is created, so its
parameters are already wired. Including it renames its steps (``inc__x``, the
exported one becomes ``inc``) and rewires what read the sub-pipeline's params to
the adapter step ``inc__adapter``; nothing is matched by name a second time.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, replace
from typing import Any, Callable

from ..constants import SCOPE_SEPARATOR
from ..dag import Binding
from ..exceptions import PipelineDefinitionError
from ..observers import Observer, ResolvedObserver
from ..types import OnError, StepMode
from .validation import error_policy


@dataclass(frozen=True, slots=True)
class FlatStep:
    """A step after include-expansion, before wiring (``bindings`` None = wire by name)."""

    name: str
    fn: Callable[..., Any]
    on_error: OnError
    mode: StepMode
    bindings: tuple[Binding, ...] | None
    materializer: Any
    error_materializer: Any
    observers: tuple[ResolvedObserver, ...]
    pipeline: str
    parent_pipeline: str | None
    scope: str
    is_adapter: bool = False
    exported: bool = False
    force_materialize: bool = False
    max_in_flight: Any = 1
    error_threshold_absolute: Any = None
    error_threshold_pct: Any = None
    ray: Any = None
    description: str = ""
    step_params: Any = None
    max_in_flight_bytes: Any = None


def resolve_observers(entries: Any, source: str, *, pipeline: str, step: str | None) -> tuple:
    """Normalise ``Observer``/callables into ``ResolvedObserver`` with a source."""
    if entries is None:
        return ()
    if not isinstance(entries, (list, tuple)):
        raise PipelineDefinitionError(
            f"'observers' must be a list of Observer, found {type(entries).__name__}",
            pipeline=pipeline, step=step, fix="pass observers=[Observer(handler), ...]")
    out = []
    for entry in entries:
        handler = entry.handler if isinstance(entry, (Observer, ResolvedObserver)) else entry
        if not callable(handler):
            from ..exceptions import PipelineShapeError

            raise PipelineShapeError(
                f"observer handler {handler!r} is not callable", pipeline=pipeline, step=step,
                fix="wrap a function: Observer(my_handler)")
        out.append(ResolvedObserver(handler, source))  # type: ignore[arg-type]
    return tuple(out)


def flat_from_step(step: Any, *, root: str) -> FlatStep:
    """A root-level ``step(...)`` as a FlatStep, wired later by name."""
    return FlatStep(
        name=step.name, fn=step.fn,
        on_error=error_policy(step.on_error, root=root, step=step.name), mode=step.mode, bindings=None,
        materializer=step.materializer, error_materializer=step.error_materializer,
        observers=resolve_observers(step.observers, "step", pipeline=root, step=step.name),
        pipeline=root, parent_pipeline=None, scope=root,
        force_materialize=step.force_materialize, max_in_flight=step.max_in_flight,
        error_threshold_absolute=step.error_threshold_absolute,
        error_threshold_pct=step.error_threshold_pct, ray=step.ray,
        description=step.description, step_params=step.params,
        max_in_flight_bytes=step.max_in_flight_bytes)


def flat_from_include(inc: Any, *, root: str, chain: tuple[int, ...]) -> list[FlatStep]:
    """The adapter and the renamed, rewired steps of one ``include(...)``."""
    sub = _check_include(inc, root=root, chain=chain)
    adapter = FlatStep(
        name=f"{inc.name}{SCOPE_SEPARATOR}adapter", fn=inc.fn, on_error=OnError.STOP,
        mode=StepMode.AUTO, bindings=None, materializer=None, error_materializer=None,
        observers=(), pipeline=root, parent_pipeline=None, scope=root, is_adapter=True,
        description=inc.description)
    sub_dag = sub.dag
    rename = _renamer(inc.name, sub_dag.exports)
    sub_observers = resolve_observers(sub.observers, "subpipeline", pipeline=sub.name, step=None)
    steps = [adapter]
    for flat in sub_dag.flat:
        node = sub_dag.steps[flat.name]
        steps.append(replace(
            flat, name=rename(flat.name), exported=flat.name == sub_dag.exports,
            bindings=tuple(_rewire(b, sub_dag, sub.params, adapter.name, rename)
                           for b in node.bindings),
            materializer=flat.materializer or sub.materializer,
            error_materializer=flat.error_materializer or sub.error_materializer,
            observers=sub_observers + flat.observers,
            pipeline=flat.pipeline, parent_pipeline=flat.parent_pipeline or root,
            scope=f"{root}{SCOPE_SEPARATOR}{inc.name}{flat.scope[len(sub.name):]}"))
    return steps


def _renamer(prefix: str, exported: str | None) -> Callable[[str], str]:
    def rename(name: str) -> str:
        return prefix if name == exported else f"{prefix}{SCOPE_SEPARATOR}{name}"
    return rename


def _rewire(b: Binding, sub_dag: Any, params_cls: Any, adapter: str,
            rename: Callable[[str], str]) -> Binding:
    if b.producer in sub_dag.params and b.attr is None:
        return Binding(b.param, adapter, params_cls, b.producer)
    if b.producer in sub_dag.steps:
        return replace(b, producer=rename(b.producer))
    return b  # a resource keeps its name (resources are lifted into the parent)


def _check_include(inc: Any, *, root: str, chain: tuple[int, ...]) -> Any:
    from ..steps import PipelineFields

    sub = inc.pipeline
    where = dict(pipeline=root, step=inc.name)
    if not isinstance(sub, PipelineFields):
        raise PipelineDefinitionError(
            f"include() needs a pipeline(...) object, found {type(sub).__name__}", **where,
            fix="pass include(name, fn=adapter, pipeline=<a pipeline(...) object>)")
    if id(sub) in chain:
        raise PipelineDefinitionError(
            f"Infinite cycle detected: Pipeline '{sub.name}' is already in the inclusion "
            f"chain", **where, fix="a pipeline cannot include itself, directly or not")
    if not sub.exports:
        raise PipelineDefinitionError(
            f"included pipeline '{sub.name}' does not define 'exports', so it cannot be "
            "included", **where,
            fix=f"set exports='<step name>' on pipeline '{sub.name}' to say which step's "
                "output the parent sees")
    if sub.exports not in sub.dag.steps:
        raise PipelineDefinitionError(
            f"included pipeline '{sub.name}' exports '{sub.exports}', which names no step of "
            "it, so it cannot be included", **where,
            fix=f"set exports= on pipeline '{sub.name}' to one of its steps: "
                f"{', '.join(sub.dag.steps)}")
    if not callable(inc.fn):
        raise PipelineDefinitionError("include() must have a callable 'fn' (the adapter)",
                                      **where, fix="pass fn=<function returning the params>")
    _check_adapter_return(inc, sub, where)
    return sub


def _check_adapter_return(inc: Any, sub: Any, where: dict[str, Any]) -> None:
    from ..signatures import function_hints

    hints = function_hints(inc.fn, pipeline=where["pipeline"], step=inc.name)
    params_name = getattr(sub.params, "__name__", str(sub.params))
    if "return" not in hints:
        raise PipelineDefinitionError(
            f"the adapter '{getattr(inc.fn, '__name__', inc.fn)}' must have a return type "
            f"hint matching the params of '{sub.name}' ({params_name})", **where,
            fix=f"annotate it '-> {params_name}' (or '-> Iterator[{params_name}]')")
    if not _mentions(hints["return"], sub.params):
        raise PipelineDefinitionError(
            f"the adapter must return '{params_name}' or an Iterable of it, but it is "
            f"annotated {hints['return']!r}", **where,
            fix=f"annotate the adapter '-> {params_name}'")


def _mentions(tp: Any, target: Any) -> bool:
    if tp is target:
        return True
    if isinstance(tp, str):
        return getattr(target, "__name__", "\0") in tp
    return any(_mentions(arg, target) for arg in typing.get_args(tp))
