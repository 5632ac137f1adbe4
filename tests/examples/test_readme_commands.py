"""The README's first two commands are what a new user and CI run.

CI (``.ci/run``) creates a fresh venv, installs ``.[all]`` and runs the README's
second command; these tests pin that the two stay in step and run the first
command's pipeline (the word count on an embedded local Ray) for real.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must start with a bash block holding the two commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_two_commands():
    first, second = readme_commands()[:2]
    assert "pip install" in first and "examples/wordcount.py" in first
    assert second.endswith("-m pytest")


def test_ci_runs_readme_test_command():
    """``.ci/run`` installs what the first command installs and runs the second."""
    ci = (ROOT / ".ci" / "run").read_text()
    first, second = readme_commands()[:2]
    install = re.search(r'pip install -e "\.\[all\]"', first)
    assert install and 'pip install -q -e ".[all]"' in ci
    assert second in ci


def test_wordcount_on_embedded_ray():
    """The first command's pipeline: word counts with the EACH step on a local Ray."""
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT))
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "wordcount.py"),
                          "--documents", "60"], capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("succeeded") and "60 documents tokenised" in lines[0]
    counts = [int(line.split()[-1]) for line in lines[1:]]
    assert len(counts) == 5 and counts == sorted(counts, reverse=True) and counts[0] > 0


def test_wordcount_same_result_everywhere():
    """The same pipeline gives the same counts in one process and on Ray."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import wordcount
    finally:
        sys.path.pop(0)
    from synaflow import run
    local = run(wordcount.wordcount, wordcount.Corpus(document_count=30)).outputs["counts"]
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "wordcount.py"),
                          "--documents", "30"], capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    on_ray = [(line.split()[0], int(line.split()[1])) for line in out.stdout.splitlines()[1:]]
    assert on_ray == [tuple(x) for x in local]
