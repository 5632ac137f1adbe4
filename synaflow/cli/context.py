"""What the CLI hands to project hooks, and the errors it turns into exit codes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


class CLIUsageError(Exception):
    """The command line (or the catalog it names) cannot be used as given.

    Caught at the ``main`` boundary and printed as ``synaflow: <message>``;
    ``exit_code`` is what ``main`` returns (1, as in SynaFlow 0.32.4).
    """

    exit_code = 1


class ParamsValidationError(CLIUsageError):
    """Params values of the wrong type (pydantic validation); exit code 2, like argparse."""

    exit_code = 2


@dataclass(frozen=True)
class RunOutcome:
    """How the pipeline run ended, as seen by ``post_run``."""

    status: Literal["succeeded", "failed"]
    error: BaseException | None


@dataclass(frozen=True)
class PreRunContext:
    """Given to ``pre_run`` after params are parsed; its return value replaces ``params``."""

    pipeline: Any
    dag: Any
    params: Any
    observers_enabled: bool


@dataclass(frozen=True)
class PostRunContext:
    """Given to ``post_run`` once the run ended (successfully or not)."""

    pipeline: Any
    dag: Any
    params: Any
    observers_enabled: bool
    outcome: RunOutcome
