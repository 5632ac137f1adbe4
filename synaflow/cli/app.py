"""The argument parser and the dispatch of ``synaflow`` subcommands.

The parser depends on the selected pipeline (``run NAME`` gets one typed flag per
params field), so an invocation goes: hoist ``--catalog`` to the front, pre-scan
the subcommand and ``NAME``, load the catalog, build the parser, parse, dispatch.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..core.pipeline_registry import PipelineRegistry
from . import commands
from .commands import lookup
from .context import CLIUsageError
from .params import FieldSpec, add_field_flags, check_reserved, params_fields, parse_assignment

EXIT_CODES = """\
exit codes:
  0  success; also a run whose steps failed under OnError.CONTINUE
     (status completed_with_errors; a warning line goes to stderr)
  1  the command cannot be carried out: unknown pipeline, catalog module missing
     or without a PipelineRegistry `catalog`, params fields unknown / missing /
     not constructable, params file unreadable or not an object, runner not
     available, `validate` found a build error. A pipeline exception (STOP,
     threshold, stall) is not caught: Python prints the traceback and exits 1.
  2  command-line syntax (argparse): unknown or abbreviated option, missing
     argument, unparsable typed flag value; and params values of the wrong type
     (`synaflow: invalid params for P: field 'f': expected T, got V`)."""

_CATALOG_HELP = ("Python module exposing `catalog = PipelineRegistry()` at top level. "
                 "The module must be importable from the current PYTHONPATH.")
_VALUE_OPTIONS = {"run": {"--params-file", "--param", "--runner", "--address"},
                  "graph": {"--format"}, "validate": {"--module"},
                  "export": {"-o", "--output", "--store", "--group", "--runner", "--address",
                             "--schedule"}}
EXPORT_TARGETS = ("airflow", "dagster", "prefect")
RUNNERS = ("sync", "async", "ray", "debug")


@dataclass(frozen=True)
class Scan:
    """What a pre-scan of the arguments found before the real parse."""

    command: str | None
    name: str | None
    module_option: bool

    def needs_catalog(self) -> bool:
        if self.command == "schema":
            return self.name is not None
        return not (self.command == "validate" and self.module_option)


def hoist_catalog(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--catalog MODULE`` from anywhere (last wins) and put it in front."""
    out: list[str] = []
    module = None
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out.extend(args[i:])
            break
        if tok == "--catalog" and i + 1 < len(args) and not args[i + 1].startswith("-"):
            module, i = args[i + 1], i + 2
            continue
        if tok.startswith("--catalog="):
            module, i = tok.partition("=")[2], i + 1
            continue
        out.append(tok)
        i += 1
    return module, (["--catalog", module, *out] if module is not None else out)


def prescan(args: list[str]) -> Scan:
    """The subcommand, the first positional after it, and whether ``--module`` is given."""
    command, command_at, name = None, None, None
    skip_value = False
    for i, tok in enumerate(args):
        if tok == "--":
            break
        if skip_value:
            skip_value = False
        elif tok.startswith("-"):
            skip_value = tok in _VALUE_OPTIONS.get(command or "", {"--catalog"})
        elif command is None:
            command, command_at = tok, i
        elif name is None:
            name = tok
    rest = args[command_at + 1:] if command_at is not None else []
    module = any(t == "--module" or t.startswith("--module=") for t in rest)
    return Scan(command, name, module)


def load_catalog(module: str, *, build_errors_are_usage: bool = False) -> PipelineRegistry:
    """Import the catalog module; the spec 08 failures become ``CLIUsageError``."""
    if not module or module.startswith("."):
        raise CLIUsageError(f"cannot find catalog module '{module}'")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise CLIUsageError(f"cannot find catalog module '{module}'") from None
        raise
    except (ValueError, TypeError) as exc:
        if not build_errors_are_usage:
            raise
        raise CLIUsageError(commands.build_error_text(exc)) from None
    if not hasattr(mod, "catalog"):
        raise CLIUsageError(f"module '{module}' has no attribute 'catalog'")
    registry = mod.catalog
    if not isinstance(registry, PipelineRegistry):
        raise CLIUsageError(f"{module}.catalog must be a PipelineRegistry, got "
                            f"{type(registry).__name__}")
    return registry


# -- the parser -----------------------------------------------------------------------------
def _module_ref(text: str) -> str:
    module, sep, attr = text.partition(":")
    if not sep or not module or not attr:
        raise argparse.ArgumentTypeError(f"expected MODULE:ATTRIBUTE, got {text!r}")
    return text


def build_parser(*, catalog_option: bool, require_catalog: bool,
                 run_fields: list[FieldSpec] | None) -> tuple[argparse.ArgumentParser, dict]:
    """The full parser; returns it with the subparsers by name and the flagged fields."""
    parser = argparse.ArgumentParser(
        prog="synaflow", description="Inspect and run synaflow pipelines.", epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    if catalog_option:
        parser.add_argument("--catalog", metavar="MODULE", required=require_catalog,
                            help=_CATALOG_HELP)
    sub = parser.add_subparsers(dest="subcommand", required=True)

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, allow_abbrev=False, **kw)

    add("list", "List registered pipelines.").add_argument("--json", action="store_true")
    info = add("info", "Show declared pipeline details.")
    info.add_argument("name")
    info.add_argument("--json", action="store_true")
    add("dag", "Show the compiled Dag as JSON (the contract).", aliases=["show"]) \
        .add_argument("name")
    graph = add("graph", "Draw the Dag as a Mermaid or Graphviz DOT flowchart.")
    graph.add_argument("name")
    graph.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    add("schema", "Print the JSON Schema of the Dag contract, or with NAME of the "
        "pipeline's params (for params files).").add_argument("name", nargs="?")
    validate = add("validate", "Build pipelines and report whether they are valid.")
    validate.add_argument("name", nargs="?", help="a catalog pipeline (default: all of them)")
    validate.add_argument("--module", metavar="MODULE:ATTR", type=_module_ref,
                          help="validate a pipeline (or registry) from a module instead")
    _add_export_arguments(add("export", "Write an orchestrator file that schedules the "
                              "pipeline slice by slice, each slice run by synaflow's engine."))
    run = add("run", "Run the pipeline.", epilog=EXIT_CODES,
              formatter_class=argparse.RawDescriptionHelpFormatter)
    flagged = _add_run_arguments(run, run_fields)
    return parser, {"parsers": {"run": run, "validate": validate}, "flagged": flagged}


def _add_export_arguments(export: argparse.ArgumentParser) -> None:
    from ..export.grouping import GROUPINGS

    export.add_argument("target", choices=EXPORT_TARGETS, help="the orchestrator")
    export.add_argument("name")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write the file here (default: standard output)")
    export.add_argument("--store", metavar="URI", required=True,
                        help="folder or pyarrow.fs URI (s3://, gs://) every task can reach; "
                             "data between slices goes there")
    export.add_argument("--group", choices=GROUPINGS, default="components",
                        help="which steps share a task (default: one per streaming "
                             "component)")
    export.add_argument("--runner", choices=("sync", "ray"), default="sync",
                        help="what runs each task's slice (ray: on a Ray cluster)")
    export.add_argument("--address", metavar="ADDR",
                        help="the Ray cluster's address (--runner ray; default: a local Ray "
                             "per task)")
    export.add_argument("--schedule", metavar="CRON",
                        help="airflow only: the DAG's schedule (every params field then "
                             "needs a default); default: runs when triggered")


def _add_run_arguments(run: argparse.ArgumentParser,
                       fields: list[FieldSpec] | None) -> list[FieldSpec]:
    run.add_argument("name")
    run.add_argument("--params-file", metavar="PATH",
                     help="Path to a JSON object (or .yaml/.yml mapping) with params field "
                          "values.")
    run.add_argument("--no-observers", action="store_true",
                     help="Disable all pipeline and step observers for this run.")
    run.add_argument("--param", metavar="KEY=VALUE", action="append", type=parse_assignment,
                     help="Set a params field; VALUE is JSON when it parses, else a string. "
                          "Repeatable.")
    run.add_argument("--runner", choices=RUNNERS, default=None,
                     help="sync, async, ray or debug (Ray code path, in process). Default: "
                          "async for async pipelines, else sync.")
    run.add_argument("--address", metavar="ADDR", help="Ray cluster address (--runner ray).")
    run.add_argument("--json", action="store_true",
                     help="Print the run result (status, outputs, step stats) as JSON.")
    run.add_argument("--no-progress", action="store_true",
                     help="No live progress display (it only shows on a terminal anyway).")
    run.add_argument("--check-types", action="store_true",
                     help="Check every value and item a step returns against its declared "
                          "type (run(..., check_types=True)); on by default with --runner "
                          "debug.")
    run.add_argument("--fail-on-errors", action="store_true",
                     help="Exit with status 3 when the run completes with errors (steps "
                          "that failed under on_error=CONTINUE); the default is 0.")
    return add_field_flags(run, fields or [])


# -- one invocation ---------------------------------------------------------------------------
@dataclass
class Hooks:
    pre_run: Callable[[Any], Any] | None = None
    post_run: Callable[[Any], None] | None = None


def invoke(argv: Sequence[str] | None, *, catalog: PipelineRegistry | None,
           hooks: Hooks) -> int:
    """Parse and run one command line; usage errors print ``synaflow: ...`` and return."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _invoke(args, catalog, hooks)
    except CLIUsageError as exc:
        print(f"synaflow: {exc}", file=sys.stderr)
        return exc.exit_code


def _invoke(args: list[str], catalog: PipelineRegistry | None, hooks: Hooks) -> int:
    fixed = catalog is not None
    module = None
    if not fixed:
        module, args = hoist_catalog(args)
    scan = prescan(args)
    registry = catalog
    if module is not None and scan.needs_catalog():
        registry = load_catalog(module, build_errors_are_usage=scan.command == "validate")
    fields = None
    if scan.command == "run" and scan.name is not None and registry is not None:
        pipeline = lookup(registry, scan.name)
        fields = params_fields(pipeline.params)
        check_reserved(pipeline.params, fields)
    parser, extra = build_parser(catalog_option=not fixed,
                                 require_catalog=not fixed and scan.needs_catalog(),
                                 run_fields=fields)
    ns = parser.parse_args(args)
    return commands.dispatch(ns, registry, hooks=hooks, fields=fields or [],
                             flagged=extra["flagged"], parsers=extra["parsers"])
