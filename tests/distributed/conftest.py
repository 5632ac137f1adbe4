"""Fixtures of the Ray runner's tests: one Ray per test session, runner modes.

Every Ray started here has ``RAY_AUTH_MODE=disabled`` in its environment (Ray 2.59+
would otherwise enable token auth and write a token into $HOME). A test that needs
Ray and cannot start it fails; it is never skipped.
"""
from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def pickle_by_value(module_name: str) -> None:
    """Ship a test module's functions by value: Ray workers cannot import test files."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[module_name])


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray (2 CPUs, no dashboard) shared by every test that needs it."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    import ray_pipelines

    pickle_by_value(ray_pipelines.__name__)
    started = False
    if not ray.is_initialized():
        # address="local": our own instance, whatever RAY_ADDRESS or another Ray on
        # this machine (/tmp/ray/ray_current_cluster) says.
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 logging_level="WARNING")
        started = True
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(params=["sync", "debug", "serialize", "ray"])
def mode(request):
    """The sync runner (reference) and the Ray runner's three modes."""
    if request.param in ("serialize", "ray"):
        import ray_pipelines

        pickle_by_value(ray_pipelines.__name__)
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param
