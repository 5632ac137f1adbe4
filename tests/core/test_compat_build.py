"""0.32.4 pipeline modules import, wire and run as they did (issue 22).

One test (or a few) per behaviour of 0.32.4 that a project written against it relies
on at build time or in how its callables are inspected.
"""
from __future__ import annotations

from typing import NamedTuple

import pytest

from synaflow import OnError, PipelineStopException, pipeline, run, step
from synaflow.core.exceptions import PipelineDefinitionError


class Items(NamedTuple):
    items: list[int]


def check(item: int) -> int:
    if item == 1:
        raise ValueError("one")
    return item * 10


def keep(check: list[int]) -> list[int]:
    return check


def checked(on_error, reports):
    return pipeline(name="policy", params=Items, error_materializer=reports.append,
                    steps=[step("check", fn=check, on_error=on_error),
                           step("keep", fn=keep)])


# -- item 2: on_error as a string ----------------------------------------------------------
@pytest.mark.parametrize("text", ["continue", "CONTINUE", "Continue", " continue "])
def test_on_error_continue_string(text):
    """``on_error="continue"`` (any case) is OnError.CONTINUE: the failed item is
    reported and the others go on."""
    reports: list = []
    p = checked(text, reports)
    assert p.dag.steps["check"].on_error is OnError.CONTINUE
    assert p.to_dict() == checked(OnError.CONTINUE, []).to_dict()
    assert run(p, Items([0, 1, 2])).outputs == {"keep": [0, 20]}
    assert len(reports) == 1


@pytest.mark.parametrize("text", ["stop", "STOP", "Stop"])
def test_on_error_stop_string(text):
    """``on_error="stop"`` is OnError.STOP (0.32.4 treated it like CONTINUE)."""
    reports: list = []
    p = checked(text, reports)
    assert p.dag.steps["check"].on_error is OnError.STOP
    with pytest.raises(PipelineStopException, match="stopped at step 'check': one"):
        run(p, Items([0, 1, 2]))
    assert len(reports) == 1


@pytest.mark.parametrize("bad", ["bogus", "", "stopp", None, 0])
def test_on_error_other_values_refused(bad):
    """Anything else is a build error naming the step, the parameter and the choices."""
    with pytest.raises(PipelineDefinitionError) as info:
        checked(bad, [])
    text = str(info.value)
    assert "step 'check', parameter 'on_error'" in text
    assert "'continue', 'stop'" in text and f"found {bad!r}" in text
