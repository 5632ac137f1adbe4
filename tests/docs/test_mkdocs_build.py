"""The site builds with ``mkdocs build --strict``, as CI builds it.

Strict mode turns every warning into an error: a broken link between pages, a
page missing from the nav, an API reference entry (``::: module``) that does not
import, or a malformed page.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` exits 0 and writes every page of the nav."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
         str(REPO / "mkdocs.yml"), "-d", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    for page in ("index.html", "getting-started/index.html",
                 "concepts/build-vs-run/index.html", "ray/index.html",
                 "reference/pipelines/index.html", "cli/index.html",
                 "ray/clusters/index.html", "compatibility/index.html",
                 "benchmarks/index.html"):
        assert (site / page).is_file(), f"{page} missing from the built site"
