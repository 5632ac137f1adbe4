"""``to_airflow``: a pipeline as one self-contained Airflow 3 DAG file (issue 26).

The file defines a DAG (``airflow.sdk``) named after the pipeline, with the params as
Airflow ``Param``s (JSON types and defaults, so Airflow refuses wrong ones when a run
is triggered) and one task per slice (``groups``), wired by the manifest URIs the
tasks return: XCom only ever carries those URIs, the data goes through the store. A
slice's ``max_retries`` becomes the task's ``retries``; its CPUs and memory are in
the task's ``executor_config`` under ``"synaflow"`` (and CPUs as ``pool_slots``).
Every task checks the run's params with SynaFlow's checker before its steps run.
Without a ``schedule`` the DAG runs when triggered; with one, every params field
needs a default (a scheduled run has nobody to ask), else the export fails.
Generating imports no Airflow; the same contract gives the same bytes.
"""
from __future__ import annotations

import math
from typing import Any

from .checks import ExportError
from .plan import Plan, header, identifier, literal, make_plan, tail

__all__ = ["to_airflow"]


def to_airflow(dag_or_pipeline: Any, *, store: str, source: str | None = None,
               group: str = "components", runner: str = "sync",
               address: str | None = None, schedule: str | None = None) -> str:
    """The Airflow file for a pipeline (see the module docstring)."""
    plan = make_plan(dag_or_pipeline, source=source, store=store, group=group,
                     runner=runner, address=address)
    required = [f.name for f in plan.fields if f.required]
    if schedule is not None and required:
        raise ExportError(
            f"Pipeline '{plan.pipeline}': a scheduled Airflow DAG needs a default for every "
            f"params field, and {', '.join(map(repr, required))} has none. Fix: give "
            "those fields defaults, or export without a schedule (triggered runs pass "
            "them)")
    return render(plan, schedule)


def render(plan: Plan, schedule: str | None = None) -> str:
    name = identifier(plan.pipeline)
    params = {f.name: f for f in plan.fields}
    lines = [header(plan, "Airflow", f"DAG {name!r}", "task", [
        f"Run it: airflow dags trigger {name} --conf '{{<params>}}' (or airflow dags test)."]),
        "from airflow.sdk import DAG, Param, get_current_context, task", "",
        "from synaflow.export.runtime import Exported", "", "",
        "def synaflow_run(slice_name: str) -> str:",
        '    """Run one slice for this DAG run (params checked first); its manifest URI."""',
        "    context = get_current_context()",
        "    return EXPORTED.run(slice_name, context['params'], context['run_id'])", "", "",
        f"with DAG(dag_id={name!r}, schedule={schedule!r}, catchup=False, "
        "tags=['synaflow'],",
        f"         description={'SynaFlow pipeline ' + repr(plan.pipeline)!r},",
        "         params={"]
    for field in params.values():
        default = "" if field.required else literal(field.default) + ", "
        lines.append(f"             {field.name!r}: Param({default}type="
                     f"{literal(field.schema['type'])}),")
    lines += ["         }) as dag:"]
    for task in plan.tasks:
        lines += [""] + _task(task)
    for task in plan.tasks:
        upstream = ", ".join(f"t_{u}" for u in task.upstream)
        lines.append(f"    t_{task.name} = slice_{task.name}({upstream})")
    lines += ["", "", tail(plan, "Airflow")]
    return "\n".join(lines)


def _task(task: Any) -> list[str]:
    options = [f"task_id={task.name!r}", f"retries={task.retries}"]
    resources = {}
    if task.cpus is not None:
        resources["num_cpus"] = task.cpus
        options.append(f"pool_slots={max(1, math.ceil(task.cpus))}")
    if task.memory is not None:
        resources["memory"] = task.memory
    if resources:
        options.append(f"executor_config={literal({'synaflow': resources})}")
    upstream = ", ".join(f"t_{u}: str" for u in task.upstream)
    return [f"    @task({', '.join(options)})",
            f"    def slice_{task.name}({upstream}) -> str:",
            f'        """Steps: {", ".join(task.steps)}."""',
            f"        return synaflow_run({task.name!r})", ""]
