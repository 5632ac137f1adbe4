"""``python -m synaflow`` and the ``synaflow`` script in a real process: exit codes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def synaflow(*args: str, script: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("CI", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    if script:
        command = [shutil.which("synaflow", path=str(Path(sys.executable).parent))]
    else:
        command = [sys.executable, "-m", "synaflow"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_module_entry_point_success():
    done = synaflow("--catalog", "examples.catalog", "list")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("wordcount\t3 steps\n")


def test_usage_error_exit_1():
    done = synaflow("--catalog", "examples.catalog", "run", "nope")
    assert done.returncode == 1
    assert done.stderr == ("synaflow: pipeline 'nope' not registered. Available: flaky, "
                           "report, wordcount\n")


def test_argparse_error_exit_2():
    done = synaflow("list")
    assert done.returncode == 2
    assert done.stderr.endswith("the following arguments are required: --catalog\n")


def test_invalid_params_exit_2():
    done = synaflow("--catalog", "examples.catalog", "run", "report", "--param",
                    "values=[1, \"two\"]")
    assert done.returncode == 2
    assert done.stderr.startswith("synaflow: invalid params for ReportParams: field 'values': "
                                  "expected list[int], got [1, 'two']")


def test_pipeline_exception_traceback_exit_1():
    done = synaflow("--catalog", "cli_catalog", "run", "stopping")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith(
        "synaflow.core.exceptions.PipelineStopException: ")


def test_completed_with_errors_exit_0_in_a_pipe():
    """Not a terminal: no progress display, no summary, only the warning (and the logs)."""
    done = synaflow("--catalog", "examples.catalog", "run", "flaky", "--items", "5")
    assert done.returncode == 0 and done.stdout == ""
    assert "\x1b[" not in done.stderr
    assert done.stderr.splitlines()[-1] == ("synaflow: warning: pipeline 'flaky' completed with "
                                            "errors: step 'checked' failed (1 error(s))")


def test_console_script():
    assert shutil.which("synaflow", path=str(Path(sys.executable).parent)) is not None, \
        "the synaflow console script is not installed: pip install -e ."
    done = synaflow("--catalog", "examples.catalog", "validate", script=True)
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "ok: wordcount (3 steps)")


def test_entry_point_is_main():
    """As in 0.32.4, the ``synaflow`` console script is ``synaflow.cli:main`` itself (so
    ``entry_point.load()(["--help"])`` behaves as ``main``)."""
    import importlib.metadata

    from synaflow.cli import main

    (ep,) = [e for e in importlib.metadata.entry_points(group="console_scripts")
             if e.name == "synaflow"]
    assert ep.value == "synaflow.cli:main" and ep.load() is main
