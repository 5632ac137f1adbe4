"""Failed EACH items are identifiable (issue 24, item 7): the ErrorContext carries the
item's index in the step's input and a short repr of it, on every runner, and a STOP
says which item it stopped on."""
from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest

from synaflow import OnError, PipelineStopException, async_run, pipeline, run, step


class Words(NamedTuple):
    words: list[str] = ["ok", "bad:1", "fine", "bad:2" + "x" * 300]


def checked(word: str) -> str:
    if word.startswith("bad"):
        raise ValueError("malformed line")
    return word


def kept(checked: list[str]) -> list[str]:
    return checked


def made(on_error, reports):
    return pipeline(name="dead_letters", params=Words, error_materializer=reports.append,
                    steps=[step("checked", fn=checked, on_error=on_error),
                           step("kept", fn=kept)])


def ray_debug(p, params):
    import sys

    from ray import cloudpickle

    from synaflow.distributed import ray_run

    # Ray workers cannot import test files (and ray_run checks that they can)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    return ray_run(p, params, debug="serialize")


RUNNERS = {"sync": run, "async": lambda p, params: asyncio.run(async_run(p, params)),
           "ray-serialize": ray_debug}


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_error_context_names_the_item(runner_name):
    reports: list = []
    result = RUNNERS[runner_name](made(OnError.CONTINUE, reports), Words())
    assert result.outputs == {"kept": ["ok", "fine"]}
    assert [(r.item_index, r.item[:8]) for r in reports] == [(1, "'bad:1'"), (3, "'bad:2xx")]
    assert len(reports[1].item) == 200 and reports[1].item.endswith("...")


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_stop_says_which_item(runner_name):
    reports: list = []
    with pytest.raises(PipelineStopException) as info:
        RUNNERS[runner_name](made(OnError.STOP, reports), Words())
    assert str(info.value) == "Pipeline stopped at step 'checked': malformed line"
    assert "Step 'checked' failed on item 1 of its input: 'bad:1'" in info.value.__notes__
    assert reports[0].item_index == 1
