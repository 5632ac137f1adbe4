"""The ``synaflow`` command line (also ``python -m synaflow``).

::

    synaflow --catalog MODULE list [--json]
    synaflow --catalog MODULE info NAME [--json]
    synaflow --catalog MODULE dag NAME              # alias: show NAME
    synaflow --catalog MODULE graph NAME [--format mermaid|dot]
    synaflow schema                                 # JSON Schema of the Dag contract
    synaflow --catalog MODULE schema NAME           # JSON Schema of NAME's params
    synaflow --catalog MODULE validate [NAME]       # or: validate --module MODULE:ATTR
    synaflow --catalog MODULE run NAME [--params-file PATH] [--param KEY=VALUE ...]
        [--no-observers] [--runner sync|async|ray|debug] [--address ADDR] [--json]
        [--no-progress] [--<field> VALUE ...]
    synaflow --catalog MODULE export airflow|dagster|prefect NAME --store URI [-o FILE]
        [--group components|steps|pipeline] [--runner sync|ray] [--address ADDR]
        [--schedule CRON]                           # --schedule: airflow only

``--catalog`` names an importable module with ``catalog = PipelineRegistry()``; it may
appear anywhere. ``run`` gets one typed flag per params field (``--field-name VALUE``,
``--flag/--no-flag`` for bools, repeatable for lists); ``--param key=value`` sets any
field (the value is JSON when it parses, else a string) and ``--params-file`` reads a
JSON object or, for ``.yaml``/``.yml``, a YAML mapping. Every value is validated with
pydantic against the declared field type. On a terminal, ``run`` shows live progress
per step on stderr and a summary line at the end; in pipes and CI it prints nothing
but a warning when steps failed. ``run --json`` prints the ``RunResult`` to stdout.

Exit codes:

====  =====================================================================================
0     success; also a run whose steps failed under ``OnError.CONTINUE``
      (``completed_with_errors``; a warning line goes to stderr)
1     ``synaflow: <message>`` on stderr: unknown pipeline; catalog module not found, without
      ``catalog`` or not a registry; params fields unknown / missing / not constructable;
      params file unreadable, invalid or not an object; a params field named
      ``no_observers`` or ``params_file``; the chosen runner is unavailable or does not fit
      the pipeline; ``validate`` found a build error.
      A pipeline exception (``PipelineStopException``, ``ThresholdExceededException``,
      ``StallError``, ...) is *not* caught: the interpreter prints the traceback and exits 1.
2     command-line syntax (argparse usage + error): unknown or abbreviated option, missing
      subcommand / ``NAME`` / ``--catalog``, unparsable typed flag value
      (``invalid parse value``, ``must be valid base64``), ``--param`` without ``=``;
      and params values of the wrong type:
      ``synaflow: invalid params for P: field 'f': expected T, got V``.
====  =====================================================================================

``main(argv)`` returns the exit code; argparse errors and ``--help`` raise ``SystemExit``
as argparse does. A project can ship its own entry point with a fixed catalog and hooks:

    >>> from synaflow import PipelineRegistry
    >>> cli = SynaflowCli(catalog=PipelineRegistry())
    >>> cli.main(["list"])
    0
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..core.pipeline_registry import PipelineRegistry
from .app import Hooks, invoke
from .context import CLIUsageError, PostRunContext, PreRunContext, RunOutcome

__all__ = ["main", "console", "SynaflowCli", "CLIUsageError", "PreRunContext", "PostRunContext",
           "RunOutcome"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``synaflow`` console script: ``--catalog MODULE`` selects the registry.

    Returns the exit code. Run as a program (``argv`` None: the console script, ``python
    -m synaflow``), Ctrl-C ends the process at once with 130 once the runner has stopped
    and cleaned up everything it started, skipping the interpreter's own teardown, where
    threads Ray left behind can crash it (SIGSEGV) after an interrupted run.
    """
    try:
        code = invoke(argv, catalog=None, hooks=Hooks())
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        code = _interrupted()
    if code == 130 and argv is None:
        _exit_now(code)
    return code


def console() -> None:
    """``main()``, then exit with its code (kept for entry points that name it)."""
    raise SystemExit(main())


def _exit_now(code: int) -> None:
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _interrupted() -> int:
    """Ctrl-C: the runner has stopped its work by now (its ``finally`` blocks ran); say
    so in one line, no traceback, and exit 130 as shells do for SIGINT."""
    import sys

    print("synaflow: interrupted (Ctrl-C): the run was stopped", file=sys.stderr)
    return 130


def _closed_pipe() -> int:
    """``synaflow graph NAME | head``: the reader left; stop quietly, like other tools."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


class SynaflowCli:
    """A project-owned CLI over a fixed catalog, with hooks around ``run``.

    ``pre_run(PreRunContext)`` returns the params to use (an instance of the
    pipeline's params class, else ``TypeError``); ``post_run(PostRunContext)`` sees
    the outcome. Pipeline exceptions propagate out of ``main`` after ``post_run``.
    """

    def __init__(self, *, catalog: PipelineRegistry,
                 pre_run: Callable[[PreRunContext], Any] | None = None,
                 post_run: Callable[[PostRunContext], None] | None = None) -> None:
        if not isinstance(catalog, PipelineRegistry):
            raise TypeError(f"catalog must be a PipelineRegistry, got {type(catalog).__name__}")
        self.catalog = catalog
        self.pre_run = pre_run
        self.post_run = post_run

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Same subcommands as ``synaflow``, without ``--catalog``; returns the exit code."""
        try:
            return invoke(argv, catalog=self.catalog,
                          hooks=Hooks(self.pre_run, self.post_run))
        except KeyboardInterrupt:
            return _interrupted()
