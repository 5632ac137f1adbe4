"""Opt-in run-time type checks (issue 24, item 11): ``check_types=True`` on every runner
(on by default in ``ray_run``'s debug modes) checks each value and stream item
against its declared type, and fails naming the step and the item's index."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal, NamedTuple, Optional

import pytest

from synaflow import OnError, PipelineStopException, async_run, pipeline, run, step
from synaflow.core.exceptions import StepTypeError
from synaflow.engine.type_checks import checked_dag, conforms


class N(NamedTuple):
    n: int = 5


def numbers(n: int) -> Iterator[int]:
    for i in range(n):
        yield i if i != 2 else "two"  # type: ignore[misc]


def squares(n: int) -> Iterator[int]:
    yield from range(n)


def squared(squares: int) -> int:
    return squares * squares if squares != 3 else "nine"  # type: ignore[return-value]


def total(squared: list[int]) -> int:
    return sum(squared)


def ray_mode(debug):
    def runner(p, params, **kw):
        from ray import cloudpickle

        from synaflow.distributed import ray_run

        cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests
        return ray_run(p, params, debug=debug, **kw)
    return runner


RUNNERS = {"sync": lambda p, params, **kw: run(p, params, **kw),
           "async": lambda p, params, **kw: asyncio.run(async_run(p, params, **kw)),
           "ray-debug": ray_mode(True), "ray-serialize": ray_mode("serialize")}


def each_pipeline(on_error=OnError.CONTINUE):
    return pipeline(name="typed", params=N, steps=[
        step("squares", fn=squares), step("squared", fn=squared, on_error=on_error),
        step("total", fn=total)])


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_each_row_of_the_wrong_type_is_that_items_failure(runner_name):
    errors = []
    p = pipeline(name="typed", params=N, error_materializer=errors.append, steps=[
        step("squares", fn=squares), step("squared", fn=squared), step("total", fn=total)])
    result = RUNNERS[runner_name](p, N(5), check_types=True)
    assert result.status == "completed_with_errors" and result.outputs == {"total": 1 + 4 + 16}
    (ctx,) = errors
    assert isinstance(ctx.exception, StepTypeError) and ctx.item_index == 3
    assert str(ctx.exception) == (
        "Pipeline 'typed', step 'squared' returned 'nine' (str), but it declares int. Fix: "
        "return what the annotation says, or change the annotation (check_types=True checks "
        "every value at run time)")


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_stream_item_of_the_wrong_type_names_its_index(runner_name):
    p = pipeline(name="typed", params=N, steps=[
        step("numbers", fn=numbers, on_error=OnError.STOP),
        step("total", fn=lambda_free_total)])
    with pytest.raises(PipelineStopException) as info:
        RUNNERS[runner_name](p, N(5), check_types=True)
    text = str(info.value.cause if info.value.cause is not None else info.value)
    assert "step 'numbers' yielded, as item 2 of its output, 'two' (str), but it declares " \
           "int" in text


def lambda_free_total(numbers: list[int]) -> int:
    return len(numbers)


@pytest.mark.parametrize("runner_name", ["sync", "async"])
def test_off_by_default_in_process(runner_name):
    result = RUNNERS[runner_name](each_pipeline(), N(3))  # no row is 3: nothing to catch
    assert result.outputs == {"total": 5}
    result = RUNNERS[runner_name](each_pipeline(), N(5))
    assert result.outputs == {}  # total fails on 'nine' (as before: nothing checked)


@pytest.mark.parametrize("runner_name", ["ray-debug", "ray-serialize"])
def test_on_by_default_in_ray_debug_modes(runner_name):
    result = RUNNERS[runner_name](each_pipeline(), N(5))
    assert result.outputs == {"total": 21} and result.steps["squared"].errors == 1
    result = RUNNERS[runner_name](each_pipeline(), N(5), check_types=False)
    assert result.outputs == {} and result.steps["squared"].errors == 0


async def agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i if i != 1 else None  # type: ignore[misc]


async def acount(agen: list[int]) -> int:
    return len(agen)


def test_async_generators_checked():
    p = pipeline(name="agen", params=N, steps=[step("agen", fn=agen, on_error=OnError.STOP),
                                               step("acount", fn=acount)])
    with pytest.raises(PipelineStopException, match="item 1 of its output, None"):
        asyncio.run(async_run(p, N(3), check_types=True))


def test_check_types_must_be_a_bool():
    with pytest.raises(TypeError, match="check_types must be True or False, got 'yes'"):
        run(each_pipeline(), N(1), check_types="yes")


def test_checked_dag_wraps_every_annotated_step():
    p = each_pipeline()
    checked = checked_dag(p.dag)
    for name, node in p.dag.steps.items():
        wrapper = checked.steps[name].fn
        assert wrapper.__wrapped__ is node.fn and wrapper.__name__ == node.fn.__name__
        assert checked.steps[name].fn_kind == node.fn_kind
    assert p.dag.steps["squared"].fn is squared  # the pipeline's own Dag is untouched


class Point(NamedTuple):
    x: int


@pytest.mark.parametrize("value, tp, fits", [
    (1, int, True), (True, int, True), (1, float, True), (True, float, False),
    ("a", int, False), (None, Optional[int], True), (3, Optional[int], True),
    ([1, 2], list[int], True), ([1, "2"], list[int], False), ((1, 2), list[int], False),
    ((1, "a"), tuple[int, str], True), ((1, 2, 3), tuple[int, ...], True),
    ({"a": 1}, dict[str, int], True), ({"a": "b"}, dict[str, int], False),
    (Point(1), Point, True), ((1,), Point, False), ("r", Literal["r", "w"], True),
    ("x", Literal["r", "w"], False), (Path("x"), Path, True), ("x", Path, False),
    (iter([1]), Iterator[int], True), (int, type[int], True), (str, type[int], False),
])
def test_conforms(value, tp, fits):
    assert conforms(value, tp) is fits
