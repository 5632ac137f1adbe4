"""pytest plugin: a ``runner`` fixture parametrised over the registered runners.

Select runners with ``SYNAFLOW_TEST_RUNNERS=sync,async`` (default: all registered).
"""
from __future__ import annotations

import os

import pytest

from .runners import available_runners, get_runner


def selected_runners() -> list[str]:
    chosen = os.environ.get("SYNAFLOW_TEST_RUNNERS")
    return chosen.split(",") if chosen else available_runners()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runner" in metafunc.fixturenames:
        metafunc.parametrize("runner", selected_runners(), indirect=True)


@pytest.fixture
def runner(request: pytest.FixtureRequest):
    return get_runner(request.param)
