"""What an export needs from a pipeline, checked before anything is generated (issue 25,
item 6).

An orchestrator runs each slice in a process of its own, which rebuilds the contract
by importing every step function and resource factory by ``module:qualname`` and
passes outputs between slices through the store. So, each an ``ExportError`` naming
the step (or resource) and the fix:

- a step function or resource factory another process cannot import: defined in
  ``__main__`` (a script, a notebook), a lambda, a nested function, or not found again
  under its own name;
- an output crossing a slice boundary whose declared type no store format can hold
  (a lock, an open file or socket, a database connection, a generator object).

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> p = pipeline(name="doc", params=P, steps=[step("double", fn=lambda n: n * 2)])
    >>> try:
    ...     check_exportable(p)
    ... except ExportError as err:
    ...     print(str(err).split(":")[0])
    Pipeline 'doc', step 'double'
"""
from __future__ import annotations

import io
import socket
import sqlite3
import threading
import types
import typing
from typing import Any

from ..core.exceptions import PipelineDefinitionError
from ..core.signatures import qualified_ref
from .grouping import groups

__all__ = ["ExportError", "check_exportable"]

# Objects that live in one process: no store format (and no pickle) holds them.
_PROCESS_BOUND = (io.IOBase, socket.socket, sqlite3.Connection, types.GeneratorType,
                  types.AsyncGeneratorType, type(threading.Lock()), type(threading.RLock()))


class ExportError(PipelineDefinitionError):
    """A pipeline cannot be exported as it is; the message names the step and the fix."""


def _why_not_importable(obj: Any) -> str | None:
    target = getattr(obj, "__wrapped__", obj) if getattr(type(obj), "synaflow_scoped", False) \
        else obj
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or getattr(type(target), "__qualname__", "")
    if module == "__main__":
        return "it is defined in __main__ (a script or a notebook)"
    if "<lambda>" in qualname:
        return "it is a lambda"
    if "<locals>" in qualname:
        return "it is defined inside a function"
    if qualified_ref(target) is None:
        return f"importing {module}:{qualname} does not give it back"
    return None


def check_exportable(pipeline_or_dag: Any, group: str = "components") -> None:
    """Raise ``ExportError`` for the first thing that stops ``pipeline_or_dag`` from
    running slice by slice in other processes."""
    dag = getattr(pipeline_or_dag, "dag", pipeline_or_dag)
    for name, node in dag.steps.items():
        why = _why_not_importable(node.fn)
        if why:
            raise ExportError(
                f"its function '{getattr(node.fn, '__qualname__', node.fn)}' cannot be "
                f"imported by another process: {why}", pipeline=dag.name, step=name,
                fix="define it at module level in an importable module (not __main__), "
                    "and use that module's function in step(...)")
    for resource, factory in dag.resource_factories.items():
        why = _why_not_importable(factory)
        if why:
            raise ExportError(
                f"Pipeline '{dag.name}', resource '{resource}': its factory cannot be "
                f"imported by another process: {why}", pipeline=dag.name, prefix=False,
                fix="define the factory at module level in an importable module")
    _check_boundaries(dag, group)


def _check_boundaries(dag: Any, group: str) -> None:
    owner = {s: g.name for g in groups(dag, group) for s in g.steps}
    for name, node in dag.steps.items():
        crosses = not node.consumers or any(owner[c] != owner[name] for c in node.consumers
                                            if c in owner)
        if not crosses:
            continue
        bound = _process_bound(node.output)
        if bound is not None:
            raise ExportError(
                f"its output ({bound}) goes to the store between slices, and no store format "
                "can hold it: it only lives in one process", pipeline=dag.name, step=name,
                fix="return plain data (values, lists, dicts, dataclasses, Arrow tables), and "
                    "open connections, files and locks in a resource factory of the step "
                    "that uses them")


def _process_bound(tp: Any) -> str | None:
    """The name of a process-bound type in annotation ``tp`` (or None)."""
    for arg in (tp, *typing.get_args(tp)):
        if isinstance(arg, type) and issubclass(arg, _PROCESS_BOUND):
            return arg.__name__
    return None
