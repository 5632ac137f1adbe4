"""Shared fixtures: the test catalogs on ``sys.path`` and throw-away catalog modules."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture(autouse=True)
def _catalog_paths(monkeypatch):
    """``cli_catalog`` (this folder) and ``examples.catalog`` (repository root) import."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.delenv("CI", raising=False)
    import cli_catalog

    cli_catalog.CALLS.clear()
    yield


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """Write a module into a temporary folder on ``sys.path``; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def make(name: str, source: str) -> str:
        path = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield make
    for name in names:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
