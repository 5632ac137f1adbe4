"""What an orchestrator file says about a pipeline, decided once for every target
(issue 26): its tasks (one per slice, in an order that can run), their dependencies,
retries and resources, the params fields with their types and defaults, and where
the installed pipeline is imported from. The targets (``dagster.py``, ...) only
print a ``Plan``; nothing here imports an orchestrator.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import pprint
import sys
import typing
from dataclasses import dataclass
from typing import Any

from ..core.params_check import admits_none, params_fields, unwrap_optional
from .checks import ExportError, check_exportable
from .grouping import groups
from .slices import as_contract, check_runner, contract_hash

__all__ = ["Plan", "Task", "Field", "make_plan", "find_source", "literal", "identifier",
           "header", "tail"]

_SCALARS = {int: "int", float: "float", str: "str", bool: "bool"}
_MISSING = object()


@dataclass(frozen=True)
class Task:
    """One orchestrator task: the slice ``name`` with its ``steps``."""

    name: str
    steps: tuple[str, ...]
    upstream: tuple[str, ...]
    retries: int
    cpus: float | None
    memory: int | None


@dataclass(frozen=True)
class Field:
    """A params field: ``annotation`` as Python source, ``schema`` its JSON type."""

    name: str
    annotation: str
    schema: dict[str, Any]
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class Plan:
    pipeline: str
    source: str
    contract: dict[str, Any]
    contract_hash: str
    tasks: tuple[Task, ...]
    fields: tuple[Field, ...]
    params_class: str
    store: str
    group: str
    runner: str
    address: str | None

    def runtime_arguments(self) -> str:
        """The keywords of ``synaflow.export.runtime.Exported(...)``, as source."""
        return "\n".join(f"    {key}={literal(value)}," for key, value in (
            ("pipeline", self.pipeline), ("source", self.source),
            ("contract_hash", self.contract_hash), ("store", self.store),
            ("group", self.group), ("runner", self.runner), ("address", self.address)))


def literal(value: Any) -> str:
    """``value`` as deterministic Python source (dict keys sorted)."""
    return pprint.pformat(value, indent=1, width=96, sort_dicts=True)


def make_plan(dag_or_pipeline: Any, *, source: str | None = None, store: str,
              group: str = "components", runner: str = "sync",
              address: str | None = None) -> Plan:
    """The ``Plan`` of a pipeline; ``ExportError`` for what cannot be exported."""
    dag = as_contract(dag_or_pipeline)
    check_runner(runner)  # the group is checked by groups() below
    if address is not None and runner != "ray":
        raise ValueError("address= is the Ray cluster's address: it needs runner='ray'")
    if not str(store):
        raise ValueError("store= is required: a folder or a pyarrow.fs URI all tasks reach")
    check_exportable(dag)
    source = source or find_source(dag_or_pipeline, dag)
    found = groups(dag, group)
    owner = {name: g.name for g in found for name in g.steps}
    tasks = tuple(_task(dag, g, owner) for g in found)
    cls = getattr(dag, "params_type", None)
    return Plan(dag.name, source, dag.to_dict(), contract_hash(dag), tasks,
                tuple(_fields(dag.name, cls)) if cls is not None else (),
                _class_name(dag.name), str(store), group, runner, address)


def _task(dag: Any, g: Any, owner: dict[str, str]) -> Task:
    upstream = sorted({owner[p] for name in g.steps for p in dag.step_dependencies(name)
                       if owner[p] != g.name})
    options = [dag.steps[name].ray_options for name in g.steps]
    retries = max((int(o.get("max_retries", 0)) for o in options), default=0)
    cpus = max((float(o["num_cpus"]) for o in options if "num_cpus" in o), default=None)
    memory = max((int(o["memory"]) for o in options if "memory" in o), default=None)
    return Task(g.name, g.steps, tuple(upstream), max(retries, 0), cpus, memory)


def identifier(name: str) -> str:
    """``name`` as a Python identifier (and a Dagster or Airflow name): other
    characters become ``_``, a leading digit gets a ``_`` in front."""
    text = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    return "_" + text if not text or text[0].isdigit() else text


def _class_name(pipeline: str) -> str:
    return identifier("".join(part[:1].upper() + part[1:]
                              for part in identifier(pipeline).split("_") if part) + "Params")


def _fields(pipeline: str, cls: Any) -> list[Field]:
    out = []
    for spec in params_fields(cls):
        annotation, schema = _json_type(pipeline, spec.name, spec.type)
        default = _MISSING
        if spec.default is not None:
            default = spec.default()
            try:
                json.dumps(default)
            except TypeError:
                raise ExportError(
                    f"Pipeline '{pipeline}': the default of params field '{spec.name}' "
                    f"({default!r}) is not a JSON value, so an orchestrator cannot show or "
                    "pass it. Fix: give the field a default of a JSON type (str, int, "
                    "float, bool, list, dict, None)") from None
        elif spec.admits_none:
            default = None
        out.append(Field(spec.name, annotation, schema, default))
    return out


def _json_type(pipeline: str, field: str, tp: Any) -> tuple[str, dict[str, Any]]:
    """``(annotation, JSON schema)`` of a params field type an orchestrator can carry."""
    if admits_none(tp) and tp not in (None, type(None)):
        inner, schema = _json_type(pipeline, field, unwrap_optional(tp))
        return f"{inner} | None", {"type": [schema.get("type", "string"), "null"]}
    if tp in _SCALARS:
        return _SCALARS[tp], {"type": {int: "integer", float: "number", str: "string",
                                       bool: "boolean"}[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
        item = _json_type(pipeline, field, args[0])[0] if args and args[-1] is not ... \
            and len(set(args)) == 1 else None
        return (f"list[{item}]" if item else "list"), {"type": "array"}
    if origin is dict or tp is dict:
        if args and args[0] is not str:
            raise _unsupported(pipeline, field, tp)
        value = _json_type(pipeline, field, args[1])[0] if args else None
        return (f"dict[str, {value}]" if value else "dict"), {"type": "object"}
    raise _unsupported(pipeline, field, tp)


def _unsupported(pipeline: str, field: str, tp: Any) -> ExportError:
    from ..core.params_check import type_label

    return ExportError(
        f"Pipeline '{pipeline}': params field '{field}' has type {type_label(tp)}, which an "
        "orchestrator cannot pass as a run parameter. Fix: declare it as str, int, float, "
        "bool, a list of those or a dict with str keys (convert it in the step that "
        "reads it)")


def find_source(given: Any, dag: Any) -> str:
    """``module:attr`` that gives the pipeline again in another process: a module-level
    name bound to the pipeline object (or to a ``PipelineRegistry`` holding it) in
    the module of one of its step functions."""
    modules = dict.fromkeys(module for node in dag.steps.values()
                            if (module := getattr(node.fn, "__module__", None)))
    for module in modules:
        mod = sys.modules.get(module) or _import(module)
        for attr, value in vars(mod).items() if mod is not None else ():
            if value is given or getattr(value, "dag", None) is dag:
                return f"{module}:{attr}"
            if _registry_holds(value, dag.name, given):
                return f"{module}:{attr}"
    raise ExportError(
        f"Pipeline '{dag.name}': cannot tell which module the orchestrator should import "
        "it from (no module-level name in its steps' modules holds it). Fix: pass "
        "source='package.module:name' (a pipeline, or a PipelineRegistry holding it)")


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a module that does not import is not the source
        return None


def _registry_holds(value: Any, name: str, given: Any) -> bool:
    from ..core.pipeline_registry import PipelineRegistry

    if not isinstance(value, PipelineRegistry) or name not in value:
        return False
    held = value[name]
    return held is given or getattr(held, "dag", None) is getattr(given, "dag", given)


def field_kwargs(fields: tuple[Field, ...]) -> list[tuple[str, str, str | None]]:
    """``(name, annotation, default source or None)`` for each field."""
    return [(f.name, f.annotation, None if f.required else literal(f.default))
            for f in fields]


def as_dict(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan)


def header(plan: Plan, target: str, what: str, unit: str, notes: list[str]) -> str:
    """The generated file's docstring, the same for every target but its names."""
    from .._version import __version__

    steps = "; ".join(f"{t.name}: {', '.join(t.steps)}" for t in plan.tasks)
    return "\n".join([
        f'"""{target} {what}: SynaFlow pipeline {plan.pipeline!r}, one {unit} per slice.', "",
        f"Generated by SynaFlow {__version__} (synaflow export {target.lower()}); do not "
        "edit. Loading", "this file compiles the installed pipeline again and refuses it "
        "if its contract", f"changed: generate the file again then. Each {unit} runs its "
        "slice with SynaFlow's", f"engine (runner {plan.runner!r}); data goes through the "
        f"store {plan.store!r} and", f"only manifest URIs pass between {unit}s.", "",
        f"Slices: {steps}.", "", *notes, '"""'])


def tail(plan: Plan, target: str) -> str:
    """The embedded contract and the ``Exported`` that checks it when the file loads."""
    return "\n".join([
        "CONTRACT = " + literal(plan.contract), "",
        "# Compiles the installed pipeline again: a stale file is refused here.",
        "EXPORTED = Exported(", plan.runtime_arguments(), "    contract=CONTRACT,",
        f"    target={target!r},", ")", ""])
