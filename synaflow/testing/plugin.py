"""pytest plugin: a ``runner`` fixture parametrised over the registered runners.

Select runners with ``SYNAFLOW_TEST_RUNNERS=sync,async``; without it, a test module's
``SYNAFLOW_RUNNERS`` list, else every registered runner.
"""
from __future__ import annotations

import os

import pytest

from .runners import available_runners, get_runner


def selected_runners(default: list[str] | None = None) -> list[str]:
    chosen = os.environ.get("SYNAFLOW_TEST_RUNNERS")
    if chosen:
        return chosen.split(",")
    return list(default) if default else available_runners()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runner" in metafunc.fixturenames:
        default = getattr(metafunc.module, "SYNAFLOW_RUNNERS", None)
        metafunc.parametrize("runner", selected_runners(default), indirect=True)


@pytest.fixture
def runner(request: pytest.FixtureRequest):
    return get_runner(request.param)
