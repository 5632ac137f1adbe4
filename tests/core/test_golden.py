"""Golden JSON contracts of the example pipelines (``tests/golden/<module>.json``).

Each example module of ``tests/examples_build`` has its ``to_dict()`` stored as
``json.dumps(..., indent=2)``; the test compares the text byte for byte, so key
order counts. After an intended contract change, regenerate and review the diff:

    SYNAFLOW_REGEN_GOLDEN=1 /work/venv-dev/bin/pytest tests/core/test_golden.py

``tests/golden/reference/*.json`` hold SynaFlow 0.32.4's own output for the three
examples of spec 04 §8 (produced by running 0.32.4, not by hand). Ours must
equal them on every key 0.32.4 knows; the only differences allowed are listed
in ``ALLOWED`` below.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from buildkit import EXAMPLES, ROOT, example

GOLDEN = ROOT / "tests" / "golden"
REGEN = os.environ.get("SYNAFLOW_REGEN_GOLDEN") == "1"
SPEC_EXAMPLES = ["weather", "words", "report"]


def _text(module: str) -> str:
    return json.dumps(example(module).to_dict(), indent=2) + "\n"


@pytest.mark.parametrize("module", sorted(EXAMPLES))
def test_golden(module):
    """to_dict() equals the golden file, byte for byte (regenerate with the env flag)."""
    path = GOLDEN / f"{module}.json"
    current = _text(module)
    if REGEN:
        path.write_text(current)
    assert path.exists(), f"missing {path}; run with SYNAFLOW_REGEN_GOLDEN=1"
    assert current == path.read_text()


def test_every_golden_has_example():
    """No stale golden file without an example module."""
    files = {p.stem for p in GOLDEN.glob("*.json")}
    assert files == set(EXAMPLES)


# -- compatibility with 0.32.4 -------------------------------------------------------------
_LISTTYPE = re.compile(r"ListType\(<class '([\w.]+)'>\)")


def _normalise_ref(value):
    """0.32.4 renders ``ListType(<class 'float'>)``; ours ``ListType(float)``."""
    if isinstance(value, str):
        return _LISTTYPE.sub(lambda m: f"ListType({m.group(1).rsplit('.', 1)[-1]})", value)
    if isinstance(value, dict):
        return {k: _normalise_ref(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_ref(v) for v in value]
    return value


def _restrict(ours, ref, path=""):
    """``ours`` limited to the keys ``ref`` has (recursively); list our extra keys."""
    if isinstance(ours, dict) and isinstance(ref, dict):
        extra = [f"{path}/{k}" for k in ours if k not in ref]
        kept = {}
        for k in ours:
            if k in ref:
                kept[k], more = _restrict(ours[k], ref[k], f"{path}/{k}")
                extra += more
        return kept, extra
    if isinstance(ours, list) and isinstance(ref, list) and len(ours) == len(ref):
        pairs = [_restrict(o, r, f"{path}[{i}]") for i, (o, r) in enumerate(zip(ours, ref))]
        return [p[0] for p in pairs], [e for p in pairs for e in p[1]]
    return ours, []


# Extra keys of ours: the contract additions and the consumer-contract shape.
ADDED_KEYS = {"shape", "materialized_deps", "fn_ref", "bindings", "contract_version",
              "params_ref", "resource_refs", "requires_sync_runner", "requires_async_runner", "exports",
              "force_materialize", "is_adapter", "exported", "description", "ray_options"}
ALLOWED = {
    # Included steps call the original function, so the renamed parameter is a
    # real smart binding (0.32.4 hid it in a keyword-only wrapper).
    "report": {"/steps/dispersion/dataset_param_names"},
}


@pytest.mark.parametrize("module", SPEC_EXAMPLES)
def test_matches_reference(module):
    """On 0.32.4's keys, ours equals 0.32.4's output (ListType rendering aside)."""
    ref = _normalise_ref(json.loads((GOLDEN / "reference" / f"{module}.json").read_text()))
    ours = json.loads((GOLDEN / f"{module}.json").read_text())
    kept, extra = _restrict(ours, ref)
    unexpected = [e for e in extra
                  if e.rsplit("/", 1)[-1] not in ADDED_KEYS and not e.endswith("_ref")
                  and e not in ALLOWED.get(module, set())]
    assert unexpected == []
    assert kept == ref
    assert list(kept) == list(ref)  # key order too
    for name in ref["steps"]:
        assert list(kept["steps"][name]) == list(ref["steps"][name])
