"""Resource factories that read params: wired at build time, like a step's parameters.

``resources={"db": open_db}`` with ``def open_db(db_path: str) -> Connection`` reads the
params field ``db_path`` (by name, singular/plural synonyms included, and type). The
wiring is part of the contract (``Dag.resource_params``: resource -> {parameter:
field}); at run time the declared factory is called with those fields' values. A
parameter no field provides, unless it has a default, is a build error naming the
resource and the parameter. Overrides replace the factory and are called with no
arguments, as in 0.32.4.

    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     db_path: str
    >>> def open_db(db_path: str) -> dict:
    ...     return {"path": db_path}
    >>> wire_resources({"db": open_db}, {"db_path": str}, P, "demo")
    {'db': {'db_path': 'db_path'}}
"""
from __future__ import annotations

import inspect
import typing
from typing import Any

from ..exceptions import PipelineDefinitionError
from ..type_compatibility import get_type_name
from .wiring import Produced, compatible

_SKIPPED = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def wire_resources(factories: dict[str, Any], params: dict[str, Any], params_cls: Any,
                   root: str) -> dict[str, dict[str, str]]:
    """resource -> {factory parameter: params field}, for the factories that read any."""
    table = Produced.start(params, {})
    out = {}
    for name, factory in factories.items():
        wired = _wire_one(name, factory, table, params_cls, root)
        if wired:
            out[name] = wired
    return out


def _wire_one(name: str, factory: Any, table: Produced, params_cls: Any,
              root: str) -> dict[str, str]:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or an object without one: called bare
        return {}
    hints = _hints(factory)
    wired = {}
    for param in signature.parameters.values():
        if param.kind in _SKIPPED:
            continue
        field = table.match(param.name)
        declared = hints.get(param.name, Any)
        if field is None:
            if param.default is not inspect.Parameter.empty:
                continue
            raise _error(root, name, param.name,
                         f"no params field of {_cls(params_cls)} provides it (the factory is "
                         "called with the params fields its parameters name)",
                         f"add a field '{param.name}: {get_type_name(declared)}' to "
                         f"{_cls(params_cls)}, or give the parameter a default")
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise _error(root, name, param.name, "is positional-only, and params are passed "
                         "by name", "remove the '/' from the factory's signature")
        if not compatible(table.types[field], declared):
            raise _error(root, name, param.name,
                         f"expects {get_type_name(declared)} but params field '{field}' is "
                         f"{get_type_name(table.types[field])}",
                         f"annotate the parameter '{get_type_name(table.types[field])}', or "
                         f"change the field's type")
        wired[param.name] = field
    return wired


def _hints(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations: not type-checked
        return {}


def _cls(params_cls: Any) -> str:
    return getattr(params_cls, "__name__", "the params")


def _error(root: str, resource: str, param: str, problem: str, fix: str
           ) -> PipelineDefinitionError:
    err = PipelineDefinitionError(
        f"Pipeline '{root}', resource '{resource}', parameter '{param}': {problem}",
        pipeline=root, param=param, fix=fix, prefix=False)
    err.resource_name = resource
    return err


def factory_arguments(wired: dict[str, str], params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a wired factory for one run's params."""
    return {param: params[field] for param, field in wired.items()}
