"""Can the workers import what a run ships to them? Checked before anything is submitted.

Ray pickles a function defined in an importable module *by reference*: the worker
imports ``module`` and looks up ``qualname``. A module the driver imported from a
folder the workers do not have (a ``sys.path`` entry added at run time, a project not
installed on the nodes) would otherwise surface as a raw ``ModuleNotFoundError`` from
inside a stage. Here every payload is unpickled once in the driver with a recording
unpickler, which lists the ``(module, name)`` pairs the workers will need; then

- on Ray, one zero-CPU task per runtime environment imports them on a worker;
- in ``debug="serialize"`` mode, each top-level module must be findable on the path a
  Ray worker would have: a fresh interpreter's ``sys.path``, the driver's script folder
  and working directory (as Ray adds them), and the step's ``runtime_env``.

Either way a miss is a ``RayImportError`` naming the step, the module and the fix.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import io
import json
import os
import pickle
import subprocess
import sys
from functools import lru_cache
from typing import Any, Iterable

from .errors import RayImportError

Need = tuple[str, str | None]  # (module, qualname); None: the module itself


class _Recorder(pickle.Unpickler):
    """Unpickles as a worker would and records every global it looks up, and every
    module cloudpickle's ``subimport`` brings in for a function pickled by value."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.needs: list[Need] = []

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        if name == "subimport" and module.endswith("cloudpickle.cloudpickle"):
            def subimport(target: str) -> Any:
                self.needs.append((target, None))
                return found(target)
            return subimport
        self.needs.append((module, name))
        return found


def needs_of(data: bytes) -> list[Need]:
    """The modules and globals unpickling ``data`` looks up (the driver has them all,
    since it pickled ``data`` from live objects)."""
    recorder = _Recorder(data)
    recorder.load()
    return [need for need in recorder.needs if not _shipped_with_ray(need[0])]


def _shipped_with_ray(module: str) -> bool:
    top = module.partition(".")[0]
    return top in sys.builtin_module_names or top in sys.stdlib_module_names \
        or top in ("ray", "synaflow", "cloudpickle", "pyarrow", "numpy")


# -- on the workers ------------------------------------------------------------------------------
def missing(needs: Iterable[Need]) -> list[tuple[str, str | None, str]]:
    """Runs on a worker: the needs it cannot meet, each with the error it got."""
    out = []
    for module, name in needs:
        try:
            found: Any = importlib.import_module(module)
            for part in (name or "").split(".") if name else ():
                found = getattr(found, part)
        except Exception as exc:  # noqa: BLE001 - reported, whatever it is
            out.append((module, name, f"{type(exc).__name__}: {exc}"))
    return out


# -- in debug="serialize" mode: the path a worker would have ------------------------------------
@lru_cache(maxsize=1)
def _fresh_path() -> tuple[str, ...]:
    """``sys.path`` of a new interpreter started as Ray starts its workers."""
    out = subprocess.run([sys.executable, "-c", "import sys, json; print(json.dumps(sys.path))"],
                         capture_output=True, text=True, env=os.environ.copy(), check=True,
                         cwd="/")
    return tuple(p for p in json.loads(out.stdout) if p)


def worker_path(*runtime_envs: dict[str, Any] | None) -> list[str]:
    """The folders a worker imports from, given the job's and the step's runtime_env."""
    path = list(_fresh_path())
    script = os.path.dirname(os.path.realpath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
    if script and script in sys.path:  # Ray adds the script's folder, when the driver has it
        path.append(script)
    envs = [env for env in runtime_envs if env]
    dirs = [env["working_dir"] for env in envs if isinstance(env.get("working_dir"), str)]
    path.extend(os.path.abspath(d) for d in dirs or [os.getcwd()])
    for entry in (e for env in envs for e in env.get("py_modules") or ()):
        name = getattr(entry, "__name__", None)
        path.append(os.path.dirname(os.path.dirname(entry.__file__)) if name
                    else os.path.dirname(os.path.abspath(str(entry))))
    return path


def missing_locally(needs: Iterable[Need], path: list[str]) -> list[tuple[str, str | None, str]]:
    out = []
    for module, name in needs:
        top = module.partition(".")[0]
        if importlib.machinery.PathFinder.find_spec(top, path) is None:
            out.append((module, name, f"ModuleNotFoundError: No module named '{top}'"))
    return out


# -- the check ------------------------------------------------------------------------------------
def check_importable(pipeline: str, payloads: list[tuple[str, str | None, bytes]],
                     step_options: dict[str, dict[str, Any]], *, on_ray: bool,
                     job_env: dict[str, Any] | None = None) -> None:
    """``payloads``: ``(what, step, pickled bytes)`` as ``check_serialisable`` made them;
    ``job_env``: the ``runtime_env`` given to ``ray.init`` (Ray applies it itself).
    Raise ``RayImportError`` for the first step whose needs a worker cannot meet."""
    groups: dict[str, tuple[dict | None, list[tuple[str, str | None, Need]]]] = {}
    for what, step, data in payloads:
        env = step_options.get(step, {}).get("runtime_env") if step else None
        key = json.dumps(env, sort_keys=True, default=str)
        seen = groups.setdefault(key, (env, []))[1]
        seen.extend((what, step, need) for need in dict.fromkeys(needs_of(data)))
    for key, (env, wanted) in groups.items():
        needs = list(dict.fromkeys(need for _, _, need in wanted))
        if not needs:
            continue
        misses = _on_ray(needs, env, key) if on_ray \
            else missing_locally(needs, worker_path(job_env, env))
        if misses:
            raise import_error(pipeline, wanted, misses)


_checked: set[tuple] = set()


def _on_ray(needs: list[Need], env: dict | None, env_key: str
            ) -> list[tuple[str, str | None, str]]:
    """One zero-CPU task imports ``needs`` on a worker (once per job, environment and
    needs: a job that passed the check once does not ask again)."""
    import ray

    key = (ray.get_runtime_context().get_job_id(), env_key, tuple(needs))
    if key in _checked:
        return []
    options: dict[str, Any] = {"num_cpus": 0, "name": "synaflow.import_check"}
    if env:
        options["runtime_env"] = env
    task = ray.remote(missing).options(**options)
    misses = ray.get(task.remote(needs))
    if not misses:
        _checked.add(key)
    return misses


def import_error(pipeline: str, wanted: list[tuple[str, str | None, Need]],
                 misses: list[tuple[str, str | None, str]]) -> RayImportError:
    lines = []
    first_step = None
    for module, name, error in misses:
        users = [(what, step) for what, step, need in wanted if need == (module, name)]
        what, step = users[0] if users else ("a value", None)
        first_step = first_step or step
        needed = f"{module}.{name}" if name else module
        where = f"step '{step}'" if step else "the params"
        lines.append(f"{where}: {what} needs '{needed}' ({error})")
    module = misses[0][0]
    head = f"Pipeline '{pipeline}'" + (f", step '{first_step}'" if first_step else "")
    return RayImportError(
        f"{head}: Ray workers cannot import module '{module}'.\n  " + "\n  ".join(lines)
        + "\nFunctions defined in an importable module travel by reference: each worker "
        "imports the module. " + _fix(module))


def _fix(module: str) -> str:
    top = module.partition(".")[0]
    spec = importlib.machinery.PathFinder.find_spec(top, sys.path)
    if spec is None or not spec.origin:
        return ("Install it on every node, or ship it with ray_run(..., ray_init={'runtime_env': "
                "{'py_modules': [<its folder>]}}).")
    folder = os.path.dirname(spec.origin)
    if spec.submodule_search_locations is not None:  # a package: py_modules takes its folder
        source = folder
        ship = (f"{{'py_modules': ['{folder}']}}}}) (or {{'working_dir': "
                f"'{os.path.dirname(folder)}'}} as the runtime_env)")
    else:
        source = spec.origin
        ship = f"{{'working_dir': '{folder}'}}}})"
    return (f"The driver has it from {source}. Ship it with the run: ray_run(..., ray_init="
            f"{{'runtime_env': {ship}, or install it on every node (pip install).")
