"""Errors of the Ray runner, and how a step's exception travels back to the driver."""
from __future__ import annotations

import os
import traceback
from typing import Any

from ..core.exceptions import SynaflowError


class RaySerializationError(SynaflowError, TypeError):
    """Something a step needs on a Ray worker cannot be serialised.

    Raised before anything is submitted (or, in ``debug="serialize"`` mode, where
    the value first crosses a process boundary), naming the step and the object.
    """


class RayImportError(SynaflowError, ImportError):
    """Ray workers cannot import a module that a step's function (or its materializer,
    resource factory or a param) needs; raised before anything is submitted (also in
    ``debug="serialize"`` mode), naming the step, the module and how to ship it."""


class RayConnectionError(SynaflowError, ConnectionError):
    """``ray_run`` could not join the cluster at ``address=`` / ``RAY_ADDRESS``: the
    message names the address and the likely fix (for example a missing token)."""


class RayResourceError(SynaflowError, RuntimeError):
    """A step asks for resources (CPUs, GPUs, memory, custom) that no node of the
    cluster has; raised before anything is submitted, naming the step."""


class RemoteStepError(SynaflowError, RuntimeError):
    """A step raised an exception that cannot be serialised; this carries its type
    name, message and remote traceback instead."""

    def __init__(self, type_name: str, message: str, remote_traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_traceback = remote_traceback

    def __reduce__(self):
        return (RemoteStepError, (self.type_name, str(self).partition(": ")[2],
                                  self.remote_traceback))


def dumps(value: Any) -> bytes:
    """Ray's own serializer for Python objects (a vendored cloudpickle)."""
    from ray import cloudpickle

    return cloudpickle.dumps(value)


def loads(data: bytes) -> Any:
    from ray import cloudpickle

    return cloudpickle.loads(data)


def portable_error(exc: BaseException, step: str) -> BaseException:
    """``exc`` with its remote traceback attached as a note (shown when it is
    printed), or a ``RemoteStepError`` standing in when ``exc`` cannot be pickled."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    note = f"Remote traceback (step '{step}', pid {os.getpid()}):\n{text.rstrip()}"
    if getattr(exc, "synaflow_remote_traceback", None) is None:
        try:
            exc.synaflow_remote_traceback = note  # type: ignore[attr-defined]
            if hasattr(exc, "add_note"):
                exc.add_note(note)
        except Exception:  # exceptions with __slots__ or read-only attributes
            pass
    try:
        dumps(exc)
    except Exception:
        return RemoteStepError(type(exc).__qualname__, str(exc), note)
    return exc


def serialization_error(what: str, step: str | None, pipeline: str, exc: BaseException
                        ) -> RaySerializationError:
    where = f"Pipeline '{pipeline}'" + (f", step '{step}'" if step else "")
    return RaySerializationError(
        f"{where}: {what} cannot be serialised for Ray ({type(exc).__name__}: {exc}). "
        "Ray ships functions, params and resource factories to worker processes; define "
        "them at module level, and avoid capturing locks, open files or sockets in "
        "closures (create such objects inside the step or in a resource factory)")
