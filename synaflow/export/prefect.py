"""``to_prefect``: a pipeline as one self-contained Prefect 3 file (issue 26).

The file defines a flow (named after the pipeline) whose arguments are the params,
with their types and defaults, so Prefect validates a run's parameters before it
starts; the flow checks them with SynaFlow's own checker too, before any step runs.
Then it calls one task per slice (``groups``) in an order that can run, each with
the manifest URIs of the slices it reads, so Prefect records the dependencies. A
slice's ``max_retries`` becomes the task's ``retries``; CPUs and memory are tags.
The flow returns the run id its outputs are stored under (the flow run's id).
Generating imports no Prefect; the same contract gives the same bytes.
"""
from __future__ import annotations

from typing import Any

from .checks import ExportError
from .plan import Plan, field_kwargs, header, identifier, make_plan, tail

__all__ = ["to_prefect"]


def to_prefect(dag_or_pipeline: Any, *, store: str, source: str | None = None,
               group: str = "components", runner: str = "sync",
               address: str | None = None) -> str:
    """The Prefect file for a pipeline (see the module docstring)."""
    return render(make_plan(dag_or_pipeline, source=source, store=store, group=group,
                            runner=runner, address=address))


def render(plan: Plan) -> str:
    name = identifier(plan.pipeline)
    _refuse_clashes(plan, name)
    lines = [header(plan, "Prefect", f"flow {name!r}", "task", [
        f"Run it: {name}(<params>) in Python, or deploy the flow as any Prefect flow."]),
        "from prefect import flow, task", "from prefect.runtime import flow_run", "",
        "from synaflow.export.runtime import Exported"]
    for task in plan.tasks:
        lines += ["", ""] + _task(task)
    arguments = [f"{n}: {a}" + (f" = {d}" if d is not None else "")
                 for n, a, d in _ordered(field_kwargs(plan.fields))]
    lines += ["", "", f"@flow(name={name!r}, description={_flow_text(plan)!r})",
              f"def {name}({', '.join(arguments)}) -> str:",
              "    synaflow_params_ = EXPORTED.params({"
              + ", ".join(f"{f.name!r}: {f.name}" for f in plan.fields) + "})",
              "    synaflow_run_id_ = str(flow_run.id)"]
    for task in plan.tasks:
        upstream = "".join(f", t_{u}" for u in task.upstream)
        lines.append(f"    t_{task.name} = slice_{task.name}(synaflow_params_, "
                     f"synaflow_run_id_{upstream})")
    lines += ["    return synaflow_run_id_", "", "", tail(plan, "Prefect")]
    return "\n".join(lines)


def _refuse_clashes(plan: Plan, name: str) -> None:
    """A flow argument may not hide a name the flow's body uses."""
    used = {name, "flow", "task", "flow_run", "Exported", "EXPORTED", "CONTRACT",
            "synaflow_params_", "synaflow_run_id_"}
    used |= {f"{prefix}{t.name}" for t in plan.tasks for prefix in ("slice_", "t_")}
    for field in plan.fields:
        if field.name in used:
            raise ExportError(
                f"Pipeline '{plan.pipeline}': params field '{field.name}' would hide a name "
                "the generated Prefect flow uses. Fix: rename the field")


def _ordered(fields: list[tuple[str, str, str | None]]) -> list[tuple[str, str, str | None]]:
    """Python wants arguments without a default first; Prefect passes them by name."""
    return [f for f in fields if f[2] is None] + [f for f in fields if f[2] is not None]


def _flow_text(plan: Plan) -> str:
    return f"SynaFlow pipeline {plan.pipeline!r}, slice by slice (store {plan.store})"


def _task(task: Any) -> list[str]:
    tags = [f"synaflow-steps:{','.join(task.steps)}"]
    if task.cpus is not None:
        tags.append(f"synaflow-num-cpus:{task.cpus:g}")
    if task.memory is not None:
        tags.append(f"synaflow-memory:{task.memory}")
    options = [f"name={task.name!r}", f"retries={task.retries}", f"tags={sorted(tags)!r}"]
    inputs = "".join(f", t_{u}: str" for u in task.upstream)
    return [f"@task({', '.join(options)})",
            f"def slice_{task.name}(params: dict, run_id: str{inputs}) -> str:",
            f'    """Steps: {", ".join(task.steps)}."""',
            f"    return EXPORTED.run({task.name!r}, params, run_id)"]
