"""The conformance suite over every local runner (sync, asyncio, asyncio-native)."""
from __future__ import annotations

import pytest

from synaflow.testing import CASES, check_case

pytest_plugins = ["synaflow.testing.plugin"]
# The Ray runner's modes run the same suite in tests/distributed/test_ray_conformance.py
# (with the session Ray fixture); running them here too doubled their cost.
SYNAFLOW_RUNNERS = ["sync", "async", "async-native"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, runner):
    """Outputs, status, error reports and per-step observer events match the spec and
    the synchronous runner."""
    if getattr(runner, "native", False) and not case.asyncify:
        pytest.fail(f"case {case.name} cannot be made async; mark it and cover it elsewhere")
    check_case(case, runner)
