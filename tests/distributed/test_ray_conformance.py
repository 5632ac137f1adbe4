"""The runner conformance suite (``synaflow.testing``) on the Ray runner: on Ray, in
the in-process debug mode, and in the debug mode with every value serialised; each
also with the generated async-def twin of every case (``-native``)."""
from __future__ import annotations

import pytest

from synaflow.testing.ray_runner import RayRunner
from synaflow.testing import CASES, check_case

MODES = {"ray-debug": True, "ray-serialize": "serialize", "ray": False}
NATIVE = [c for c in CASES if c.asyncify]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("name", list(MODES))
def test_case(case, name, request):
    """Outputs, status, error reports and normalised observer events equal the sync
    runner's for every case of the suite."""
    if name == "ray":
        request.getfixturevalue("ray_session")
    check_case(case, RayRunner(MODES[name]))


@pytest.mark.parametrize("case", NATIVE, ids=[c.name for c in NATIVE])
@pytest.mark.parametrize("name", list(MODES))
def test_native_case(case, name, request):
    """The async-def twin of every case (async steps, async generators, AsyncIterator
    parameters, async observers and materializers) gives the same outputs, error
    reports and events on the Ray runner as the sync runner (and so ``async_run``)."""
    if name == "ray":
        request.getfixturevalue("ray_session")
    runner = RayRunner(MODES[name], native=True)
    assert runner.name == f"{name}-native"
    check_case(case, runner)
