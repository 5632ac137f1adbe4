"""Bad input at export time (issue 25, item 6): a function or resource factory another
process cannot import, and an output no store format can hold, each an ExportError
naming the step and the fix."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from synaflow import pipeline, step
from synaflow.export.checks import ExportError, check_exportable
from synaflow.testing import CASES


class N(NamedTuple):
    n: int = 2


def double(n: int) -> int:
    return n * 2


doubled = lambda n: n * 2  # noqa: E731 - a lambda, on purpose


def nested_pipeline():
    def inner(n: int) -> int:
        return n

    return pipeline(name="nested", params=N, steps=[step("inner", fn=inner)])


def connect(n: int) -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


def use(connect: sqlite3.Connection) -> int:
    return 1


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def test_module_level_functions_pass():
    check_exportable(pipeline(name="ok", params=N, steps=[step("double", fn=double)]))


@pytest.mark.parametrize("make, words", [
    (lambda: pipeline(name="lam", params=N, steps=[step("double", fn=doubled)]),
     "Pipeline 'lam', step 'double': its function '<lambda>' cannot be imported by another "
     "process: it is a lambda. Fix: define it at module level"),
    (nested_pipeline, "Pipeline 'nested', step 'inner': its function "
                      "'nested_pipeline.<locals>.inner' cannot be imported by another process: "
                      "it is defined inside a function"),
])
def test_unimportable_functions(make, words):
    with pytest.raises(ExportError) as info:
        check_exportable(make())
    assert str(info.value).startswith(words)


def test_main_module_functions(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        from typing import NamedTuple
        from synaflow import pipeline, step
        from synaflow.export.checks import ExportError, check_exportable
        class N(NamedTuple):
            n: int = 1
        def one(n: int) -> int:
            return n
        try:
            check_exportable(pipeline(name="script", params=N, steps=[step("one", fn=one)]))
        except ExportError as err:
            print(err)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True).stdout
    assert "step 'one': its function 'one' cannot be imported by another process: it is " \
           "defined in __main__ (a script or a notebook)" in out


def test_unimportable_resource_factory():
    def tool() -> dict:
        return {}

    p = pipeline(name="res", params=N, resources={"tool": tool}, steps=[
        step("use_tool", fn=use_tool)])
    with pytest.raises(ExportError, match=r"Pipeline 'res', resource 'tool': its factory "
                       r"cannot be imported by another process: it is defined inside a "
                       r"function"):
        check_exportable(p)


def use_tool(tool: dict, n: int) -> int:
    return len(tool) + n


def test_process_bound_output_crossing_a_boundary():
    p = pipeline(name="conn", params=N, steps=[step("connect", fn=connect),
                                               step("use", fn=use)])
    check_exportable(p, "pipeline")  # one slice: the connection never leaves it
    with pytest.raises(ExportError) as info:
        check_exportable(p, "steps")
    text = str(info.value)
    assert text.startswith("Pipeline 'conn', step 'connect': its output (Connection) goes to "
                           "the store between slices, and no store format can hold it")
    assert "Fix: return plain data" in text


@pytest.mark.parametrize("case", [c for c in CASES if c.name in (
    "value_chain", "each_over_params", "dataclass_params")], ids=lambda c: c.name)
def test_conformance_cases_of_plain_functions_pass(case):
    check_exportable(case.build())
