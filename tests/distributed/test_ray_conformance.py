"""The runner conformance suite (``synaflow.testing``) on the Ray runner: on Ray, in
the in-process debug mode, and in the debug mode with every value serialised."""
from __future__ import annotations

import pytest

from synaflow.distributed.testing import RayRunner
from synaflow.testing import CASES, check_case

MODES = {"ray-debug": True, "ray-serialize": "serialize", "ray": False}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("name", list(MODES))
def test_case(case, name, request):
    """Outputs, status, error reports and normalised observer events equal the sync
    runner's for every case of the suite."""
    if name == "ray":
        request.getfixturevalue("ray_session")
    check_case(case, RayRunner(MODES[name]))
