"""The runner conformance suite, shipped so that any runner can be checked with it.

    >>> from synaflow.testing import CASES, check_runner
    >>> len(CASES) > 30
    True

``check_runner(runner)`` runs every case with ``runner`` and compares outputs,
statuses, error reports and the normalised observer events with the synchronous
runner (the reference semantics). In pytest, ``pytest -p synaflow.testing.plugin``
provides a ``runner`` fixture over ``SYNAFLOW_TEST_RUNNERS`` (default: every
registered runner).
"""
from __future__ import annotations

from typing import Any

from .case import Case, Outcome, execute, make, verify
from .cases import ALL_CASES as CASES
from .runners import available_runners, get_runner, register_runner

__all__ = ["CASES", "Case", "Outcome", "execute", "make", "verify", "check_case",
           "check_runner", "available_runners", "get_runner", "register_runner"]


def check_case(case: Case, runner: Any, baseline: Outcome | None = None) -> Outcome:
    """Run one case with ``runner``; assert expectations and parity with the sync runner."""
    from .runners import SyncRunner

    prepare = getattr(runner, "prepare", None)
    pipeline = prepare(case.build()) if prepare is not None else None
    outcome = execute(case, runner, pipeline=pipeline)
    verify(case, outcome)
    if baseline is None and not isinstance(runner, SyncRunner):
        baseline = execute(case, SyncRunner())
    if baseline is not None:
        assert outcome.events == baseline.events, (
            f"{case.name}: observer events differ from the sync runner\n"
            f"  got:      {outcome.events}\n  expected: {baseline.events}")
        assert outcome.errors == baseline.errors, f"{case.name}: error reports differ"
    return outcome


def check_runner(runner: Any) -> list[str]:
    """Run the whole suite; returns the names of the cases that passed (raises on failure)."""
    passed = []
    for case in CASES:
        if getattr(runner, "native", False) and not case.asyncify:
            continue
        check_case(case, runner)
        passed.append(case.name)
    return passed
