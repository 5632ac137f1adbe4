"""``ray_run`` checks params with the same checker as ``run`` (issue 24, item 3), on a
real Ray: before anything is submitted, and with defaults filled in."""
from __future__ import annotations

import sys
from typing import NamedTuple

import pytest
from ray import cloudpickle

from synaflow import ParamsError, pipeline, step
from synaflow.distributed import ray_run

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers lack test files


class Scan(NamedTuple):
    path: str
    threshold: int = 700


def flagged(path: str, threshold: int) -> str:
    return f"{path}>{threshold + 1}"


def test_ray_checks_params(ray_session):
    p = pipeline(name="scan", params=Scan, steps=[step("flagged", fn=flagged)])
    assert ray_run(p, {"path": "logs"}).outputs == {"flagged": "logs>701"}
    with pytest.raises(ParamsError, match=r"Pipeline 'scan': invalid params for Scan: field "
                       r"'threshold': expected int, got '700' \(str"):
        ray_run(p, {"path": "logs", "threshold": "700"})
