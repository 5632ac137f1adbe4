"""Shared paths and loaders for the tests of the ``cluster/`` directory."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "cluster"


def _load_yaml(relative: str) -> Any:
    with open(CLUSTER_DIR / relative, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def cluster_dir() -> Path:
    """The repository's ``cluster/`` directory."""
    return CLUSTER_DIR


@pytest.fixture(scope="session")
def load_yaml() -> Callable[[str], Any]:
    """Return a loader: ``load_yaml("aws.yaml")`` parses ``cluster/aws.yaml`` afresh."""
    return _load_yaml


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: ``RUN a \\ b`` -> Instruction('RUN', 'a b', line)."""

    keyword: str
    args: str
    line: int


def _parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions.

    Joins backslash continuations, drops comments and blank lines (also inside a
    continuation, as Docker does). Parser directives and heredocs are not used
    in cluster/Dockerfile, so they are not handled.
    """
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    if pending:
        raise ValueError(f"line {start}: continuation never ends")
    return instructions


@pytest.fixture(scope="session")
def parse_dockerfile() -> Callable[[str], list[Instruction]]:
    """The line-wise Dockerfile parser used by the Dockerfile checks."""
    return _parse_dockerfile


@pytest.fixture(scope="session")
def dockerfile() -> list[Instruction]:
    """cluster/Dockerfile, parsed."""
    return _parse_dockerfile((CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8"))
