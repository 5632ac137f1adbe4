"""Fixtures of the documentation tests: one real local Ray for the pages that need it."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def docs_ray() -> Iterator[None]:
    """A local Ray (2 CPUs, no dashboard, token auth off), shared by the whole session.

    Reuses a Ray that another fixture already started. Never skips: a page whose
    examples need Ray fails when Ray cannot start.
    """
    os.environ["RAY_AUTH_MODE"] = "disabled"  # Ray 2.59+ would turn token auth on
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
