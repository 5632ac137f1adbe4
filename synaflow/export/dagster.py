"""``to_dagster``: a pipeline as one self-contained Dagster file (issue 26).

The file defines a job (named after the pipeline, as an identifier) with one op per
slice (``groups``), wired as the slices read
each other, and ``defs = dg.Definitions(jobs=[...])``. The params are a
``dg.Config`` on a first op, ``synaflow_params``, which checks them before any step
runs; every slice op takes the checked params and the manifest URIs of the slices
it reads, runs its slice with SynaFlow's engine and returns its own manifest's URI.
A step's ``max_retries`` becomes the op's ``RetryPolicy``; its CPUs and memory are
tags. Generating imports no Dagster; the same contract gives the same bytes.
"""
from __future__ import annotations

from typing import Any

from .plan import Plan, field_kwargs, header, identifier, literal, make_plan, tail

__all__ = ["to_dagster"]


def to_dagster(dag_or_pipeline: Any, *, store: str, source: str | None = None,
               group: str = "components", runner: str = "sync",
               address: str | None = None) -> str:
    """The Dagster file for a pipeline (see the module docstring)."""
    return render(make_plan(dag_or_pipeline, source=source, store=store, group=group,
                            runner=runner, address=address))


def render(plan: Plan) -> str:
    lines = [header(plan, "Dagster", f"job {identifier(plan.pipeline)!r}", "op", [
        "Run config: {'ops': {'synaflow_params': {'config': {<params>}}}}."]),
        "import dagster as dg", "", "from synaflow.export.runtime import Exported", "", "",
        f"class {plan.params_class}(dg.Config):",
             f'    """The params of pipeline {plan.pipeline!r}."""', ""]
    for name, annotation, default in field_kwargs(plan.fields):
        lines.append(f"    {name}: {annotation}" + (f" = {default}" if default else ""))
    if not plan.fields:
        lines.append("    pass")
    lines += ["", "", '@dg.op(description="Checks the params before any step runs.")',
              f"def synaflow_params(config: {plan.params_class}) -> dict:",
              "    return EXPORTED.params(config.model_dump())"]
    for task in plan.tasks:
        lines += ["", ""] + _op(task)
    job = identifier(plan.pipeline)
    lines += ["", "", f"@dg.job(name={job!r}, "
                      f"tags={{'synaflow/contract_hash': {plan.contract_hash!r}}})",
              f"def {job}_job():", "    params = synaflow_params()"]
    for task in plan.tasks:
        inputs = ", ".join(["params"] + [f"t_{u}" for u in task.upstream])
        lines.append(f"    t_{task.name} = slice_{task.name}({inputs})")
    lines += ["", "", f"defs = dg.Definitions(jobs=[{job}_job])", "", "", tail(plan, "Dagster")]
    return "\n".join(lines)


def _op(task: Any) -> list[str]:
    options = [f"name={task.name!r}", f"description={'Steps: ' + ', '.join(task.steps)!r}"]
    if task.retries:
        options.append(f"retry_policy=dg.RetryPolicy(max_retries={task.retries})")
    tags = {"synaflow/steps": ",".join(task.steps)}
    if task.cpus is not None:
        tags["synaflow/num_cpus"] = f"{task.cpus:g}"
    if task.memory is not None:
        tags["synaflow/memory"] = str(task.memory)
    options.append(f"tags={literal(tags)}")
    inputs = "".join(f", t_{u}: str" for u in task.upstream)
    return [f"@dg.op({', '.join(options)})",
            f"def slice_{task.name}(context: dg.OpExecutionContext, params: dict{inputs}) "
            "-> str:",
            f"    return EXPORTED.run({task.name!r}, params, context.run_id)"]
