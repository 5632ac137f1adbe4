"""How many of SynaFlow 0.32.4's own tests pass against this repository (issue 22).

Downloads the 0.32.4 source distribution from PyPI (nothing of it is kept in this
repository), runs its test suite with *this* repository's ``synaflow`` on the path, and
prints the figures: all tests, the tests of files that import only the public API
(spec 01), and every failure sorted into the deliberate differences of
``docs/compatibility.md``. A failure that fits none of them is printed under
``UNEXPLAINED``: each of those is a compatibility bug or a missing row in that page.

    python benchmarks/compat_reference.py            # ~1 min once the venv exists
    python benchmarks/compat_reference.py --list     # also every failing test id

The test tools run in their own virtualenv, ``benchmarks/.compat-venv`` (git-ignored,
made on first use): 0.32.4's suite needs pytest-asyncio, which our suite does not use.
Always exits 0: it is a report, not a test.
"""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".compat-venv"
TOOLS = ["pytest", "pytest-asyncio", "pytest-timeout", "hypothesis", "typeguard", "inflect",
         "pydantic", "cloudpickle", "pyyaml", "pyarrow"]
# The modules spec 01 names as 0.32.4's public API.
PUBLIC = {"synaflow", "synaflow.types", "synaflow.cli", "synaflow.serializers",
          "synaflow.materializers", "synaflow.execution", "synaflow.execution.overrides",
          "synaflow.execution.sync_engine", "synaflow.execution.sync_engine.executor",
          "synaflow.execution.async_engine", "synaflow.execution.async_engine.executor"} | {
    f"synaflow.core.{m}" for m in ("types", "observers", "exceptions", "definition", "naming",
                                   "type_compatibility", "pipeline_registry", "dag",
                                   "dag_builder", "constants")} | {
    f"synaflow.serializers.{m}" for m in ("text", "pickle", "jsonl", "json", "csv")} | {
    f"synaflow.materializers.{m}" for m in ("errors", "memory", "disk", "composite")}

# (label, test on the failure text): the first that matches names the difference.
REASONS = [
    ("include(): exports naming no step is refused at the include",
     lambda t: "which names no step of it" in t),
    ("eager validation: pipeline(...) raises where 0.32.4 waited for build_dag",
     lambda t: "in __post_init__" in t and "definition.py" in t),
    ("internals: a module, class or private name 0.32.4 had and we do not",
     lambda t: re.search(r"ModuleNotFoundError: No module named 'synaflow\.|cannot import name "
                         r"'\w+' from 'synaflow|has no attribute '_|does not have the attribute"
                         r"|Dag.__init__\(\) missing|has no attribute 'to_serializable'", t)),
    ("frozen Dag/definitions: the test mutates a compiled Dag or a pipeline",
     lambda t: "FrozenInstanceError" in t or "compiled Dag" in t or "is frozen" in t
     or ".steps.append(" in t),
    ("extended contract: consumer contracts carry a shape, materialized_deps exported",
     lambda t: "shape=" in t or "'shape'" in t or "'materialized_deps' not in" in t),
    ("materialized streams: an Iterator consumer gets an iterator over the collection",
     lambda t: "lazy_is_list" in t),
    ("async_run also runs synchronous pipelines",
     lambda t: "must be executed with run" in t),
    ("CLI: --param is accepted; the project file is not in the test's folder",
     lambda t: "legacy_param_flag" in t or "pyproject.toml" in t),
    ("resources: an EACH step's factory is not called once more to probe it",
     lambda t: "resource-0" in t),
    ("lenient types: an untyped EACH output satisfies list",
     lambda t: "ListType(None)" in t),
    ("registry: the CLI compiles through pipeline(...), not PipelineRegistry.get_dag",
     lambda t: "internal programmer error" in t),
]


def quiet(cmd: list[str]) -> None:
    """Run a set-up command; its output is shown only when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")


def tools_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        quiet([sys.executable, "-m", "venv", str(VENV)])
        quiet([str(python), "-m", "pip", "install", "-q", *TOOLS])
    return python


def reference_tests(work: Path, python: Path) -> Path:
    quiet([str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
           "synaflow==0.32.4", "-d", str(work)])
    sdist = next(work.glob("synaflow-0.32.4.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/tests/" in m.name]
        tar.extractall(work, members=members, filter="data")
    top = work / "synaflow-0.32.4"
    (top / "pytest.ini").write_text(
        "[pytest]\ntestpaths = tests\nasyncio_mode = auto\n"
        "addopts = --import-mode=importlib -p no:cacheprovider\npythonpath = .\n"
        "timeout = 30\n")
    (top / "record_outcomes.py").write_text(
        "import json, os\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' or report.outcome != 'passed':\n"
        "        with open(os.environ['COMPAT_OUT'], 'a') as out:\n"
        "            out.write(json.dumps({'id': report.nodeid, 'when': report.when,\n"
        "                'outcome': report.outcome,\n"
        "                'text': str(report.longrepr or '')[-6000:]}) + '\\n')\n"
        "def pytest_collectreport(report):\n"
        "    if report.failed:\n"
        "        with open(os.environ['COMPAT_OUT'], 'a') as out:\n"
        "            out.write(json.dumps({'id': report.nodeid, 'when': 'collect',\n"
        "                'outcome': 'error', 'text': str(report.longrepr)[-6000:]}) + '\\n')\n")
    return top


def public_files(top: Path) -> set[str]:
    found = set()
    for path in (top / "tests").rglob("test_*.py"):
        mods = set(re.findall(r"^\s*(?:from|import) (synaflow[\w.]*)", path.read_text(), re.M))
        if mods <= PUBLIC:
            found.add(str(path.relative_to(top)))
    return found


def outcomes(top: Path, python: Path) -> list[dict]:
    out = top / "outcomes.jsonl"
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{top}", COMPAT_OUT=str(out),
               RAY_AUTH_MODE="disabled")
    subprocess.run([str(python), "-m", "pytest", "-q", "-p", "record_outcomes",
                    "--continue-on-collection-errors"], cwd=top, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows: dict[str, dict] = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        kept = rows.get(row["id"])
        if kept is None or kept["outcome"] == "passed":
            rows[row["id"]] = row
    return list(rows.values())


def reason(row: dict) -> str:
    text = row["id"] + "\n" + row["text"]
    for label, matches in REASONS:
        if matches(text):
            return label
    return "UNEXPLAINED"


def main() -> None:
    python = tools_python()
    with tempfile.TemporaryDirectory() as tmp:
        top = reference_tests(Path(tmp), python)
        public = public_files(top)
        rows = outcomes(top, python)
    tally = collections.Counter(r["outcome"] for r in rows)
    pub = [r for r in rows if r["id"].split("::")[0] in public]
    pub_tally = collections.Counter(r["outcome"] for r in pub)
    print(f"0.32.4's tests against this repository: {tally['passed']} of {len(rows)} pass "
          f"({tally['failed']} failed, {tally['error']} errors, {tally['skipped']} skipped)")
    print(f"  files importing only the public API ({len(public)} files): "
          f"{pub_tally['passed']} of {len(pub)} pass")
    failing = [r for r in rows if r["outcome"] in ("failed", "error")]
    by_reason = collections.defaultdict(list)
    for row in failing:
        by_reason[reason(row)].append(row["id"])
    print("failures by deliberate difference (docs/compatibility.md):")
    for label, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ids):4d}  {label}")
        if "--list" in sys.argv or label == "UNEXPLAINED":
            for test_id in sorted(ids):
                print(f"          {test_id}")


if __name__ == "__main__":
    main()
