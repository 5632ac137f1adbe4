"""Build-time checks that are not wiring: pipeline basics, settings, resources, shapes."""
from __future__ import annotations

import sys
import warnings
from typing import Any

from .build_state import BuildNode
from ..exceptions import PipelineDefinitionError, PipelineShapeError, UnusedParamsFieldWarning
from ..sizes import UNITS_TEXT, parse_size
from ..signatures import MISSING, is_async_callable, params_fields, resource_type
from ..type_compatibility import get_type_name, is_stream_type
from ..types import OnError, StepMode

NoneType = type(None)


def check_pipeline_basics(p: Any) -> tuple[str, dict[str, Any]]:
    """Name and params class; returns (name, params fields)."""
    name = p.name
    if not isinstance(name, str) or not name:
        raise PipelineDefinitionError(
            f"pipeline name must be a non-empty string, found {name!r}",
            fix="pipeline(name='my_pipeline', ...)")
    fields = params_fields(p.params)
    if fields is None:
        raise PipelineDefinitionError(
            f"'params' must be a NamedTuple or dataclass class, found {p.params!r}",
            pipeline=name, fix="declare `class Params(NamedTuple): ...` and pass params=Params")
    if p.exports is not None and not isinstance(p.exports, str):
        raise PipelineDefinitionError(f"'exports' must be a step name, found {p.exports!r}",
                                      pipeline=name, fix="exports='<step name>'")
    return name, fields


def check_step_settings(f: Any, root: str) -> None:
    """max_in_flight, on_error, thresholds, force_materialize of one step."""
    where = dict(pipeline=root, step=f.name)
    mif = f.max_in_flight
    if isinstance(mif, bool) or not isinstance(mif, int):
        raise PipelineDefinitionError(
            f"max_in_flight must be an integer, got {type(mif).__name__}", **where,
            fix="max_in_flight=8 (items the producer may run ahead of its consumer)")
    if mif < 1:
        raise PipelineDefinitionError(f"max_in_flight must be >= 1, got {mif}", **where,
                                      fix="use max_in_flight=1 for strict lockstep")
    error_policy(f.on_error, root=root, step=f.name)
    if not isinstance(f.mode, StepMode):
        raise PipelineDefinitionError(f"mode must be a StepMode, found {f.mode!r}", **where,
                                      fix="StepMode.AUTO, StepMode.EACH or StepMode.ALL")
    _check_threshold_values(f, where)


def error_policy(value: Any, *, root: str, step: str) -> OnError:
    """``on_error`` as an ``OnError``: the enum itself, or its value as a string in any
    case (``"continue"``, ``"STOP"``), as 0.32.4 accepted; anything else is refused."""
    if isinstance(value, OnError):
        return value
    if isinstance(value, str):
        for choice in OnError:
            if value.strip().lower() == choice.value:
                return choice
    raise PipelineDefinitionError(
        f"on_error must be an OnError or one of "
        f"{', '.join(repr(c.value) for c in OnError)}, found {value!r}",
        pipeline=root, step=step, param="on_error",
        fix="on_error=OnError.CONTINUE (or \"continue\"), or OnError.STOP (or \"stop\")")


_BYTES_FIX = "max_in_flight_bytes=64 * 2**20, or the same as a string: '64MiB'"


def step_byte_bound(f: Any, root: str) -> int | None:
    """``max_in_flight_bytes`` of one step as a number of bytes (None: no byte bound).

    Accepts an int >= 1 or a size string (``"512kB"``, ``"64MiB"``, ``"1.5GiB"``;
    decimal kB/MB/GB/TB, binary KiB/MiB/GiB/TiB). It adds to ``max_in_flight``, so
    it is refused where that already allows one item only.
    """
    raw = f.max_in_flight_bytes
    if raw is None:
        return None
    where = dict(pipeline=root, step=f.name, param="max_in_flight_bytes")
    value = _parse_size(raw, where)
    if value < 1:
        raise PipelineDefinitionError(f"must be at least 1 byte, got {raw!r}", **where,
                                      fix=_BYTES_FIX)
    if f.max_in_flight == 1:
        raise PipelineDefinitionError(
            f"{raw!r} has no effect with max_in_flight=1, which already holds one item "
            "at a time; the byte bound caps what max_in_flight allows", **where,
            fix=f"raise max_in_flight too, e.g. max_in_flight=64, max_in_flight_bytes={raw!r}")
    return value


def _parse_size(raw: Any, where: dict[str, Any]) -> int:
    value = parse_size(raw)
    if value is None:
        found = f"{raw!r}" if isinstance(raw, str) else f"{type(raw).__name__} {raw!r}"
        raise PipelineDefinitionError(
            f"expects a number of bytes (an int) or a size such as '64MiB' ({UNITS_TEXT}), "
            f"found {found}", **where, fix=_BYTES_FIX)
    return value


def check_byte_bounds(nodes: dict[str, BuildNode], root: str) -> None:
    """A byte bound on a step whose output is a value would do nothing: refuse it."""
    for name, node in nodes.items():
        contract = node.output_contract
        if node.max_in_flight_bytes is not None and contract.runtime_kind == "value":
            raise PipelineDefinitionError(
                "bounds the hand-off of a stream, but the step returns a value "
                f"({get_type_name(node.output)}), which is handed on whole", pipeline=root,
                step=name, param="max_in_flight_bytes",
                fix="remove max_in_flight_bytes, or make the step yield its items "
                    "(a generator annotated Iterator[...])")


def _check_threshold_values(f: Any, where: dict[str, Any]) -> None:
    pct, absolute = f.error_threshold_pct, f.error_threshold_absolute
    if pct is not None and (isinstance(pct, bool) or not isinstance(pct, (int, float))
                            or not 0.0 < pct <= 1.0):
        raise PipelineDefinitionError(
            f"error_threshold_pct must be in (0.0, 1.0], got {pct!r}", **where,
            fix="e.g. error_threshold_pct=0.1 fails the run when 10% of items fail")
    if absolute is not None and (isinstance(absolute, bool) or not isinstance(absolute, int)
                                 or absolute < 1):
        raise PipelineDefinitionError(
            f"error_threshold_absolute must be >= 1, got {absolute!r}", **where,
            fix="e.g. error_threshold_absolute=5 fails the run at the fifth failed item")
    if (pct is not None or absolute is not None) and f.on_error is OnError.STOP:
        raise PipelineDefinitionError(
            "sets an error threshold together with 'on_error=STOP' (STOP already ends the "
            "run at the first error)", **where,
            fix="drop the threshold, or use on_error=OnError.CONTINUE")


def lift_resources(p: Any, flat: list, root: str) -> tuple[dict, dict]:
    """Root resources then those of included pipelines; returns (factories, types)."""
    if not isinstance(p.resources, dict):
        raise PipelineDefinitionError(
            f"'resources' must be a dict of name -> factory, found {type(p.resources).__name__}",
            pipeline=root, fix="resources={'db': open_db}")
    factories: dict[str, Any] = {}
    for name, factory in p.resources.items():
        _add_resource(factories, name, factory, root)
    for sub in _included_pipelines(p):
        for name, factory in sub.dag.resource_factories.items():
            _add_resource(factories, name, factory, root)
    return factories, {n: _resource_type(n, f, root) for n, f in factories.items()}


def _included_pipelines(p: Any) -> list:
    from ..steps import IncludeStep

    return [s.pipeline for s in p.steps if isinstance(s, IncludeStep)]


def _add_resource(factories: dict, name: str, factory: Any, root: str) -> None:
    if name in factories and factories[name] is not factory:
        raise PipelineDefinitionError(
            f"resource '{name}' is declared multiple times with different "
            "instances/factories", pipeline=root,
            fix="declare the factory once at module level and pass that same object")
    factories[name] = factory


def _resource_type(name: str, factory: Any, root: str) -> Any:
    if not callable(factory):
        raise PipelineDefinitionError(
            f"resource '{name}' must be declared as a factory callable, found "
            f"{type(factory).__name__}", pipeline=root,
            fix=f"resources={{'{name}': lambda_or_function_returning_it}} with a return "
                "annotation")
    try:
        declared = resource_type(factory)
    except Exception as exc:  # NameError/TypeError of an unresolvable annotation
        raise PipelineDefinitionError(
            f"Could not resolve the type hints of resource '{name}' factory: "
            f"{type(exc).__name__}: {exc}", pipeline=root,
            fix="define the returned type at module level (or import it) so "
                "typing.get_type_hints() can resolve it") from exc
    if declared is MISSING:
        raise PipelineDefinitionError(
            f"resource '{name}' factory must declare a return type annotation", pipeline=root,
            fix=f"annotate the factory: def make_{name}() -> MyClient: ...")
    if declared is None or declared is NoneType:
        raise PipelineDefinitionError(f"resource '{name}' factory must not return None",
                                      pipeline=root, fix="return the resource object")
    return declared


def warn_unused_params(nodes: dict[str, BuildNode], params: dict[str, Any], params_cls: Any,
                       root: str, *, also_read: set[str] = frozenset()) -> None:
    """A params field that no step (or resource factory, ``also_read``) reads is most
    often a typo or a leftover: say so (a warning, as 0.32.4 accepted it), pointing at
    the user's ``pipeline(...)``."""
    read = {b.producer for node in nodes.values() for b in node.bindings} | set(also_read)
    unused = [field for field in params if field not in read]
    if not unused:
        return
    cls = getattr(params_cls, "__name__", "params")
    for field in unused:
        warnings.warn(UnusedParamsFieldWarning(
            f"Pipeline '{root}': params field '{field}' of {cls} is read by no step, "
            f"resource factory or output path. Fix: remove it from {cls}, or give the step that needs it a "
            f"parameter named '{field}'"), stacklevel=_outside_synaflow())


def _outside_synaflow() -> int:
    """The stack level of the first caller outside the synaflow package (dataclass
    ``__init__``s included: they run with their module's globals)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] \
            == "synaflow":
        frame, level = frame.f_back, level + 1
    return level


def check_location_templates(nodes: dict[str, BuildNode], params: dict[str, Any], params_cls: Any,
                             root: str) -> set[str]:
    """Materializer and error-materializer paths that name params fields
    (``"{out_dir}/x"``) name existing ones; returns the fields they read."""
    read: set[str] = set()
    for name, node in nodes.items():
        for key in ("materializer", "error_materializer"):
            fields_of = getattr(getattr(node, key), "__synaflow_template_fields__", None)
            if fields_of is None:
                continue
            try:
                fields = fields_of()
            except ValueError as exc:
                raise PipelineDefinitionError(f"its {key} path: {exc}", pipeline=root,
                                              step=name, fix="fix the path") from None
            for field in fields:
                if field not in params:
                    cls = getattr(params_cls, "__name__", "the params")
                    raise PipelineDefinitionError(
                        f"its {key} path names '{{{field}}}', which is not a params field of "
                        f"{cls} (fields: {', '.join(params) or '<none>'})", pipeline=root,
                        step=name, fix=f"add a field '{field}' to {cls}, or name one it has")
            read.update(fields)
    return read


def check_resources(nodes: dict[str, BuildNode], resource_types: dict, root: str) -> None:
    used = {b.producer for n in nodes.values() for b in n.bindings}
    for name in resource_types:
        if name not in used:
            raise PipelineDefinitionError(
                f"resource '{name}' is declared in resources={{}} but not used by any step",
                pipeline=root, fix=f"remove it, or add a parameter named '{name}' to a step")


def check_terminal_streams(nodes: dict[str, BuildNode], exports: str | None, root: str) -> None:
    """A terminal ALL-mode stream would never be read: refuse it at build time.

    ``exports`` naming no step is accepted here: at top level it is only a label
    (0.32.4's CLI documentation uses ``exports="status/loaded.json"``). It is
    refused where it matters, when the pipeline is ``include()``d.
    """
    for name, node in nodes.items():
        if node.consumers or name.startswith("_") or node.mode is StepMode.EACH:
            continue
        if is_stream_type(node.output) and not node.force_materialize \
                and node.flat.materializer is None and name != exports:
            raise PipelineDefinitionError(
                f"terminal step '{name}' returns a stream type "
                f"({get_type_name(node.output)}) but its output is "
                "never materialized: no step consumes it", pipeline=root, step=name,
                fix="add a consumer, set force_materialize=True to collect it into a list, "
                    "or export it")


def check_handler_shapes(nodes: dict[str, BuildNode], pipeline_observers: tuple, is_async: bool,
                         root: str) -> None:
    """Every handler must be async in an async pipeline and sync otherwise."""
    for obs in pipeline_observers:
        _check_shape(obs.handler, "observer handler", is_async, root, None)
    for name, node in nodes.items():
        for obs in node.flat.observers:
            _check_shape(obs.handler, "observer handler", is_async, root, name)
    for name, node in nodes.items():
        if node.materializer is not None:
            _check_shape(node.materializer, "materializer", is_async, root, name)
        _check_shape(node.error_materializer, "error_materializer", is_async, root, name)
        _check_shape(node.fn, "step function", is_async, root, name)


def _check_shape(handler: Any, what: str, is_async: bool, root: str, step: str | None) -> None:
    label = getattr(handler, "__name__", type(handler).__name__)
    if not callable(handler):
        raise PipelineShapeError(f"{what} {handler!r} is not callable", pipeline=root,
                                 step=step, fix="pass a function")
    if is_async_callable(handler) and not is_async:
        raise PipelineShapeError(
            f"{what} '{label}' is async but the pipeline runs synchronously", pipeline=root,
            step=step, fix="use a plain def here, or make every step async")
    if is_async and not is_async_callable(handler):
        raise PipelineShapeError(
            f"{what} '{label}' is synchronous but the pipeline runs asynchronously",
            pipeline=root, step=step, fix="declare it with async def, like the steps")
