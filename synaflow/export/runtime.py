"""What a generated orchestrator file runs (issue 26): ``Exported``.

A generated file names where the installed pipeline comes from and embeds the
contract it was generated from. When the orchestrator loads the file, ``Exported``
compiles the installed pipeline again and refuses a stale export, naming the steps
whose contract changed; at run time it checks the params before any step runs and
runs one slice per task with ``run_slice``, handing the next task only a URI.
Nothing here imports an orchestrator.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from .checks import ExportError
from .grouping import groups
from .slices import contract_hash as hash_of, manifest_params, run_slice
from .store import Store

__all__ = ["Exported", "load_pipeline", "changed_steps"]


def load_pipeline(source: str, name: str) -> Any:
    """The pipeline ``name`` from ``module:attr``: a pipeline, a registry holding it, or
    a function of no arguments that builds it."""
    from ..core.pipeline_registry import PipelineRegistry

    module, _, attr = source.partition(":")
    try:
        value = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ExportError(f"Pipeline '{name}': cannot import it from {source!r}: {exc}. "
                          "Fix: install the package that defines it where the "
                          "orchestrator runs its tasks") from exc
    if isinstance(value, PipelineRegistry):
        if name not in value:
            raise ExportError(f"Pipeline '{name}' is not registered in {source!r} "
                              f"(it holds {sorted(value)})")
        value = value[name]
    elif callable(value) and not hasattr(value, "dag"):
        value = value()
    return getattr(value, "dag", value)


def changed_steps(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Step names (and ``params``) that differ between two contracts (``to_dict()``)."""
    before, after = old.get("steps", {}), new.get("steps", {})
    changed = sorted(name for name in set(before) | set(after)
                     if before.get(name) != after.get(name))
    if old.get("params") != new.get("params") or old.get("params_ref") != new.get(
            "params_ref"):
        changed.append("params")
    return changed


class Exported:
    """One exported pipeline, as a generated file declares it."""

    def __init__(self, *, pipeline: str, source: str, contract_hash: str,
                 contract: Mapping[str, Any], store: str, group: str = "components",
                 runner: str = "sync", address: str | None = None,
                 target: str = "the orchestrator") -> None:
        self.dag = load_pipeline(source, pipeline)
        if hash_of(self.dag) != contract_hash:
            changed = changed_steps(contract, self.dag.to_dict()) or ["(none by name)"]
            raise ExportError(
                f"Pipeline '{pipeline}': this {target} file was generated from another "
                f"version of the pipeline; changed since: {', '.join(changed)}. Fix: "
                f"generate it again (synaflow export ... {pipeline})")
        self.store = Store(store)
        # an async pipeline runs each slice on asyncio inside the task
        self.runner = "async" if runner == "sync" and self.dag.requires_async_runner \
            else runner
        self.options = {"address": address} if address is not None else {}
        self.slices = {g.name: g for g in groups(self.dag, group)}

    def params(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The run's params, checked (a ``ParamsError`` names the field) and with
        defaults filled in, as JSON values."""
        return manifest_params(self.dag, dict(given or {}))

    def run(self, task: str, params: Mapping[str, Any], run_id: str) -> str:
        """Run the slice ``task`` for run ``run_id`` (its params are checked before any
        step runs, as in every run); returns its manifest's URI."""
        run_slice(self.dag, self.slices[task], dict(params), store=self.store,
                  run_id=run_id, runner=self.runner, **self.options)
        return self.store.manifest_uri(run_id, task)
