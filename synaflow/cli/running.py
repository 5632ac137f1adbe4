"""``synaflow run``: params, hooks, the runner, live progress and the result.

Pipeline exceptions are not caught (as in 0.32.4): they reach the interpreter,
which prints the traceback and exits 1. Only the CLI's own problems become
``CLIUsageError``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Callable

from ..core.constants import PIPELINE_SCOPE
from .context import CLIUsageError, PostRunContext, PreRunContext, RunOutcome
from .params import assignment_values, build_params, flag_values, read_params_file
from .progress import ProgressDisplay, is_interactive

Runner = Callable[[Any, Any, Any, Any], Any]


def run_command(ns: argparse.Namespace, pipeline: Any, *, hooks: Any, fields: list,
                flagged: list, parsers: dict) -> int:
    """Parse params, run ``pre_run``, run the pipeline, run ``post_run``, report."""
    if ns.address is not None and ns.runner != "ray":
        parsers["run"].error("--address is only used with --runner ray")
    dag = pipeline.dag
    file_values = read_params_file(ns.params_file) if ns.params_file is not None else {}
    direct = {**assignment_values(ns.param, fields), **flag_values(ns, flagged)}
    params = build_params(pipeline.params, file_values=file_values, direct_values=direct)
    runner = choose_runner(dag, ns.runner, address=ns.address)
    enabled = not ns.no_observers
    if hooks.pre_run is not None:
        params = _pre_run(hooks.pre_run, PreRunContext(pipeline, dag, params, enabled),
                          pipeline.params)
    display = None if ns.no_progress else ProgressDisplay.create(dag)
    overrides = make_overrides(pipeline, observers_enabled=enabled, display=display)
    post = _PostRun(hooks.post_run, pipeline, dag, params, enabled)
    if display is not None:
        display.start()
    try:
        result = runner(dag, params, overrides, _options(ns, display))
    except BaseException as exc:
        _close(display)
        post.failed(exc)
        raise
    _close(display, result)
    post.succeeded()
    report(result, pipeline, as_json=ns.json)
    if getattr(ns, "fail_on_errors", False) \
            and getattr(result, "status", None) == "completed_with_errors":
        return EXIT_COMPLETED_WITH_ERRORS
    return 0


# ``synaflow run --fail-on-errors``: the run ended, but some steps recorded errors.
EXIT_COMPLETED_WITH_ERRORS = 3


def _pre_run(hook: Callable[[Any], Any], ctx: PreRunContext, params_cls: type) -> Any:
    params = hook(ctx)
    if not isinstance(params, params_cls):
        raise TypeError(f"pre_run must return {params_cls.__name__}, got "
                        f"{type(params).__name__}")
    return params


@dataclasses.dataclass
class _PostRun:
    hook: Callable[[Any], None] | None
    pipeline: Any
    dag: Any
    params: Any
    enabled: bool

    def _call(self, outcome: RunOutcome) -> None:
        if self.hook is not None:
            self.hook(PostRunContext(self.pipeline, self.dag, self.params, self.enabled,
                                     outcome))

    def succeeded(self) -> None:
        self._call(RunOutcome("succeeded", None))

    def failed(self, exc: BaseException) -> None:
        """A failing hook replaces the pipeline error, which becomes its ``__cause__``."""
        try:
            self._call(RunOutcome("failed", exc))
        except BaseException as hook_exc:
            raise hook_exc from exc


def _close(display: ProgressDisplay | None, result: Any = None) -> None:
    if display is not None:
        display.close(result)


# -- runners ------------------------------------------------------------------------------------
def choose_runner(dag: Any, requested: str | None, *, address: str | None = None) -> Runner:
    """The runner callable for ``--runner`` (default: async for async pipelines, else sync)."""
    name = requested or ("async" if dag.requires_async_runner else "sync")
    if name != "async" and dag.requires_async_runner:
        raise CLIUsageError(f"pipeline '{dag.name}' has async steps, so it needs the asyncio "
                            f"runner; use --runner async instead of --runner {name}")
    from ..export.slices import run_on

    if name in ("sync", "async"):
        return lambda dag, params, overrides, options: run_on(name, dag, params, overrides,
                                                              **options)
    try:  # the Ray runner's import error, as a usage error before anything runs
        import synaflow.distributed  # noqa: F401
    except ImportError as exc:
        raise CLIUsageError(f"--runner {name} needs the Ray runner, which cannot be imported: "
                            f"{exc}") from None
    where = {"debug": True} if name == "debug" else {"address": address}
    return lambda dag, params, overrides, options: run_on("ray", dag, params, overrides,
                                                          **where, **options)


def _options(ns: argparse.Namespace, display: ProgressDisplay | None) -> dict[str, Any]:
    """Runner keywords from the command line (left out when not asked for, so that
    each runner keeps its own default: the debug runner checks types by default)."""
    options: dict[str, Any] = {}
    if display is not None:
        options["progress"] = display.poll
    if ns.check_types:
        options["check_types"] = True
    return options



def make_overrides(pipeline: Any, *, observers_enabled: bool,
                   display: ProgressDisplay | None) -> Any:
    """``None`` (as compiled), observers silenced (``--no-observers``), and/or the
    progress observer added to the pipeline-level observers."""
    from ..execution.overrides import ExecutionOverrides

    if display is None:
        return None if observers_enabled else ExecutionOverrides.without_observers(pipeline)
    if observers_enabled:
        overrides = ExecutionOverrides.from_production(pipeline)
        base = list(pipeline.dag.pipeline_observers)
    else:
        overrides, base = ExecutionOverrides.without_observers(pipeline), []
    overrides.observers[PIPELINE_SCOPE] = [*base, display.observer]
    return overrides


# -- the result -----------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """A JSON-safe copy; objects JSON cannot hold become their ``repr``."""
    try:
        return json.loads(json.dumps(value, default=repr, allow_nan=False))
    except (TypeError, ValueError, RecursionError):  # non-str keys, NaN, cycles
        return repr(value)


def result_to_json(result: Any, pipeline: Any) -> dict[str, Any]:
    """``RunResult`` as a JSON object: status, outputs, per-step stats, wall time."""
    if result is None or not hasattr(result, "status"):
        return {"pipeline": pipeline.name, "status": "succeeded"}
    return {
        "pipeline": result.pipeline_name,
        "run_id": result.run_id,
        "status": result.status,
        "wall_time_s": round(result.wall_time_s, 6),
        "outputs": {name: _jsonable(v) for name, v in result.outputs.items()},
        "steps": {name: dataclasses.asdict(stats) for name, stats in result.steps.items()},
    }


def _problems(result: Any) -> str:
    parts = []
    for name, stats in result.steps.items():
        if stats.status == "error":
            parts.append(f"step '{name}' failed ({stats.errors} error(s))")
        elif stats.status == "skipped":
            parts.append(f"step '{name}' skipped ({stats.reason})")
    return "; ".join(parts) or "see the error materializers"


def summary_line(result: Any, pipeline: Any) -> str:
    if result is None or not hasattr(result, "status"):
        return f"synaflow: pipeline '{pipeline.name}' finished"
    steps = result.steps.values()
    ran = sum(1 for s in steps if s.status in ("ok", "error"))
    errors = sum(s.errors for s in steps)
    return (f"synaflow: pipeline '{result.pipeline_name}' {result.status} in "
            f"{result.wall_time_s:.2f}s ({ran} steps run, {errors} errors)")


def report(result: Any, pipeline: Any, *, as_json: bool) -> None:
    """``--json`` to stdout; a warning (completed with errors, always) or, on a
    terminal, a summary line to stderr."""
    if as_json:
        print(json.dumps(result_to_json(result, pipeline), indent=2))
    if getattr(result, "status", None) == "completed_with_errors":
        print(f"synaflow: warning: pipeline '{result.pipeline_name}' completed with errors: "
              f"{_problems(result)}", file=sys.stderr)
    elif is_interactive(sys.stderr):
        print(summary_line(result, pipeline), file=sys.stderr)
