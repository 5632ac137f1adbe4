"""``docs/benchmarks.md`` is exactly what ``docs/gen_benchmarks.py`` makes of the saved runs.

So every figure on the page traces back to a recorded run of a ``benchmarks/`` script
(``docs/_benchmarks/*.json``), and nobody edits the page by hand.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_benchmarks", DOCS / "gen_benchmarks.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_page_matches_saved_runs() -> None:
    """Regenerating the page from the saved runs changes nothing."""
    gen = _generator()
    records = gen.load_saved()
    assert records, "no saved benchmark run in docs/_benchmarks/"
    assert (DOCS / "benchmarks.md").read_text() == gen.render(records), (
        "docs/benchmarks.md is out of date: run python docs/gen_benchmarks.py")


def test_page_dates_every_run() -> None:
    """Each benchmark section says when and how it was run."""
    text = (DOCS / "benchmarks.md").read_text()
    sections = re.findall(r"^## (?!Targets).*\n\n`python benchmarks/\S+\.py[^`]*` — run "
                          r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", text, re.M)
    assert len(sections) == len(_generator().load_saved())


def test_verdicts_are_read_from_targets_only() -> None:
    """PASS/FAIL lines count only under a "Targets" heading."""
    gen = _generator()
    out = "== Results\n   PASS  not a target\n\n== Targets\n   PASS  fast\n   FAIL  small\n"
    assert gen.verdicts(out) == [("PASS", "fast"), ("FAIL", "small")]
    assert gen.summaries('SUMMARY {"a": 1}\nSUMMARY {"b": null}\n') == {"a": 1, "b": None}
