"""The subcommands that inspect pipelines: list, info, dag/show, graph, schema, validate;
and export (an orchestrator file).

Each writes its result to stdout and returns the exit code; ``run`` lives in
``synaflow.cli.running``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from ..core.definition import IncludeStep, PipelineDef
from ..core.exceptions import PipelineDefinitionError
from ..core.pipeline_registry import PipelineRegistry
from .context import CLIUsageError


def dispatch(ns: argparse.Namespace, registry: PipelineRegistry | None, **run_options: Any
             ) -> int:
    """Run the parsed subcommand."""
    command = "dag" if ns.subcommand == "show" else ns.subcommand
    if command == "schema":
        return schema_command(lookup(registry, ns.name) if ns.name else None)
    if command == "validate":
        return validate_command(ns, registry, run_options["parsers"]["validate"])
    if command == "list":
        return list_command(registry, as_json=ns.json)
    pipeline = lookup(registry, ns.name)
    if command == "info":
        return info_command(pipeline, as_json=ns.json)
    if command == "dag":
        print(json.dumps(pipeline.dag.to_dict(), indent=2))
        return 0
    if command == "graph":
        return graph_command(pipeline, ns.format)
    if command == "export":
        return export_command(ns, pipeline)
    from .running import run_command

    return run_command(ns, pipeline, **run_options)


def export_command(ns: argparse.Namespace, pipeline: PipelineDef) -> int:
    """``synaflow export TARGET NAME``: the orchestrator file, on stdout or in ``-o``."""
    from ..export.airflow import to_airflow
    from ..export.checks import ExportError
    from ..export.dagster import to_dagster
    from ..export.prefect import to_prefect

    catalog = getattr(ns, "catalog", None)
    if ns.address is not None and ns.runner != "ray":
        raise CLIUsageError("--address is the Ray cluster's address: it needs --runner ray")
    if ns.schedule is not None and ns.target != "airflow":
        raise CLIUsageError(f"--schedule is Airflow's; for {ns.target}, schedule the "
                            "exported job with its own tools")
    extra = {"schedule": ns.schedule} if ns.target == "airflow" else {}
    try:
        render = {"airflow": to_airflow, "dagster": to_dagster, "prefect": to_prefect}[ns.target]
        text = render(pipeline, store=ns.store, group=ns.group, runner=ns.runner,
                      address=ns.address, source=f"{catalog}:catalog" if catalog else None,
                      **extra)
    except (ExportError, PipelineDefinitionError) as exc:
        raise CLIUsageError(str(exc)) from None
    if ns.output is None:
        sys.stdout.write(text)
    else:
        with open(ns.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {ns.output}: {ns.target} file for pipeline '{pipeline.name}'",
              file=sys.stderr)
    return 0


def lookup(registry: PipelineRegistry, name: str) -> PipelineDef:
    """The registered pipeline, or the spec 08 'not registered' usage error."""
    if name not in registry:
        known = ", ".join(sorted(registry)) or "<none>"
        raise CLIUsageError(f"pipeline '{name}' not registered. Available: {known}")
    return registry[name]


def _declared_steps(pipeline: PipelineDef) -> list[str]:
    """Names of the declared entries of ``steps`` (an include counts once)."""
    return [entry.name for entry in pipeline.steps]


def list_command(registry: PipelineRegistry, *, as_json: bool) -> int:
    rows = [(name, len(p.steps)) for name, p in registry.items()]
    if as_json:
        print(json.dumps([{"name": n, "steps": k} for n, k in rows], indent=2))
    else:
        for name, count in rows:
            print(f"{name}\t{count} steps")
    return 0


def info_command(pipeline: PipelineDef, *, as_json: bool) -> int:
    """Declared details only; nothing is compiled."""
    steps = _declared_steps(pipeline)
    params = getattr(pipeline.params, "__name__", repr(pipeline.params))
    if as_json:
        print(json.dumps({"name": pipeline.name, "params": params,
                          "exports": pipeline.exports, "steps": steps}, indent=2))
        return 0
    print(f"name: {pipeline.name}")
    print(f"params: {params}")
    print(f"exports: {pipeline.exports or '<none>'}")
    print(f"steps ({len(steps)}): {', '.join(steps)}")
    return 0


def graph_command(pipeline: PipelineDef, fmt: str) -> int:
    from .graph import to_dot, to_mermaid

    print(to_dot(pipeline.dag) if fmt == "dot" else to_mermaid(pipeline.dag))
    return 0


def schema_command(pipeline: PipelineDef | None) -> int:
    """The contract's JSON Schema, or the JSON Schema of one pipeline's params."""
    if pipeline is None:
        from ..core.contract import contract_json_schema

        schema = contract_json_schema()
    else:
        from .params import params_json_schema

        schema = params_json_schema(pipeline.params)
    print(json.dumps(schema, indent=2))
    return 0


# -- validate ------------------------------------------------------------------------------------
def build_error_text(exc: BaseException) -> str:
    """A build error as one line: our errors already say where; others get their type."""
    if isinstance(exc, PipelineDefinitionError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def validate_command(ns: argparse.Namespace, registry: PipelineRegistry | None,
                     parser: argparse.ArgumentParser) -> int:
    """Compile each selected pipeline again and print ``ok: <name> (<n> steps)``.

    ``<n>`` counts compiled steps (included pipelines expanded). The first build
    error ends the command with exit code 1.
    """
    if ns.module and ns.name:
        parser.error("give a pipeline NAME or --module, not both")
    if ns.module:
        targets = _module_targets(ns.module)
    elif ns.name:
        targets = [lookup(registry, ns.name)]
    else:
        targets = list(registry.values())
    for pipeline in targets:
        dag = _rebuild(pipeline)
        print(f"ok: {pipeline.name} ({len(dag.steps)} steps)")
    return 0


def _rebuild(pipeline: PipelineDef) -> Any:
    """Compile again: the definition may have been mutated after it was registered."""
    from ..core.dag_builder import build_dag

    try:
        for entry in pipeline.steps:
            if isinstance(entry, IncludeStep):
                build_dag(entry.pipeline)
        return build_dag(pipeline)
    except (ValueError, TypeError) as exc:
        raise CLIUsageError(build_error_text(exc)) from None


def _module_targets(ref: str) -> list[PipelineDef]:
    """The pipeline (or every pipeline of the registry) named by ``module:attr``."""
    module, _, attr = ref.partition(":")
    if module.startswith("."):
        raise CLIUsageError(f"cannot find module '{module}'")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise CLIUsageError(f"cannot find module '{module}'") from None
        raise
    except (ValueError, TypeError) as exc:  # pipeline(...) compiles at import time
        raise CLIUsageError(build_error_text(exc)) from None
    if not hasattr(mod, attr):
        raise CLIUsageError(f"module '{module}' has no attribute '{attr}'")
    value = getattr(mod, attr)
    if isinstance(value, PipelineDef):
        return [value]
    if isinstance(value, PipelineRegistry):
        return list(value.values())
    raise CLIUsageError(f"{ref} must be a pipeline(...) or a PipelineRegistry, got "
                        f"{type(value).__name__}")
