"""The runner entry points: what they accept, what they return, what they report.

``run`` / ``async_run`` / ``PipelineExecutor`` (05 §1-§3), observer event order
(07 §1.3), the default error materializer's log line (05 §4) and observer failure
isolation (07 §1.1). Parametrised over the sync runner, the asyncio runner on the
sync pipeline and the asyncio runner on its generated async twin.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest

from synaflow import Observer, OnError, async_run, pipeline, run, step
from synaflow.core.exceptions import ParamsError, PipelineStopException, RunnerMismatchError
from synaflow.engine.result import RunResult, StepStats
from synaflow.execution.async_engine.executor import AsyncPipelineExecutor
from synaflow.execution.sync_engine.executor import PipelineExecutor
from synaflow.testing.asyncify import asyncify

KINDS = ["sync", "asyncio", "async-native"]


class N(NamedTuple):
    n: int


@dataclass
class DataN:
    n: int


def execute(kind: str, p: Any, params: Any, overrides: Any = None) -> RunResult:
    """Run ``p`` on one runner; ``async-native`` runs ``asyncify(p)``, whose observers
    and error materializers are awaitable wrappers of the same handlers."""
    if kind == "sync":
        return run(p, params, overrides)
    if kind == "async-native":
        p = asyncify(p)
    return asyncio.run(async_run(p, params, overrides))


# -- a small pipeline with every kind of step ---------------------------------------


def numbers(n: int) -> Iterator[int]:
    yield from range(1, n + 1)


def squared(numbers: int) -> int:
    if numbers == 2:
        raise ValueError("two is not welcome")
    return numbers * numbers


def total(squared: list[int]) -> int:
    return sum(squared)


def labels(numbers: int) -> str:
    return f"#{numbers}"


def mixed():
    return pipeline(name="mixed", params=N, error_materializer=_swallow, steps=[
        step("numbers", fn=numbers), step("squared", fn=squared), step("total", fn=total),
        step("labels", fn=labels)])


def _swallow(err: Any) -> None:
    return None


@pytest.mark.parametrize("kind", ["sync", "asyncio"])
@pytest.mark.parametrize("form", ["pipeline", "dag"])
def test_accepts_pipeline_or_dag(kind, form):
    p = mixed()
    target = p if form == "pipeline" else p.dag
    if kind == "sync":
        result = run(target, N(3))
    else:
        result = asyncio.run(async_run(target, N(3)))
    assert result.outputs == {"total": 10, "labels": ["#1", "#2", "#3"]}


def test_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a pipeline"):
        run(object(), N(1))


@pytest.mark.parametrize("kind", KINDS)
def test_run_result_fields(kind):
    """status, outputs of terminal steps, per-step counts, wall time, run id."""
    seen_run_ids = set()

    def observe(ctx):
        seen_run_ids.add(ctx.run_id)

    p = pipeline(name="mixed", params=N, error_materializer=_swallow,
                 observers=[Observer(observe)],
                 steps=[step("numbers", fn=numbers), step("squared", fn=squared),
                        step("total", fn=total), step("labels", fn=labels)])
    start = time.monotonic()
    result = execute(kind, p, N(4))
    elapsed = time.monotonic() - start
    assert isinstance(result, RunResult)
    assert result.pipeline_name == "mixed"
    assert result.status == "completed_with_errors"  # one row failed under CONTINUE
    assert not result.ok
    assert result.outputs == {"total": 1 + 9 + 16, "labels": ["#1", "#2", "#3", "#4"]}
    assert result["total"] == 26
    assert result.steps["squared"] == StepStats("error", items_in=4, items_out=3, errors=1)
    assert result.steps["labels"] == StepStats("ok", items_in=4, items_out=4, errors=0)
    assert result.steps["numbers"].status == "ok" and result.steps["numbers"].items_out == 4
    assert result.steps["total"] == StepStats("ok", items_in=1, items_out=1, errors=0)
    assert 0 <= result.wall_time_s <= elapsed
    assert str(uuid.UUID(result.run_id)) == result.run_id
    assert seen_run_ids == {result.run_id}


@pytest.mark.parametrize("kind", KINDS)
def test_each_run_has_own_id(kind):
    first = execute(kind, mixed(), N(1))
    second = execute(kind, mixed(), N(1))
    assert first.run_id != second.run_id
    assert first.status == second.status == "succeeded"


def double(n: int) -> int:
    return 2 * n


def plus_one(double: int) -> int:
    return double + 1


@pytest.mark.parametrize("kind", KINDS)
def test_exported_step_in_outputs(kind):
    """A step named by ``exports`` is in ``outputs`` although it has a consumer."""
    p = pipeline(name="exp", params=N, exports="double",
                 steps=[step("double", fn=double), step("plus_one", fn=plus_one)])
    result = execute(kind, p, N(5))
    assert result.outputs == {"double": 10, "plus_one": 11}
    assert result.status == "succeeded" and result.ok


def lows(numbers: Iterator[int]) -> int:
    return min(numbers)


def highs(numbers: Iterator[int]) -> int:
    return max(numbers)


def test_executor_outputs():
    """``PipelineExecutor(dag).execute(params)``; ``outputs`` holds the params fields and
    the published outputs (fan-out branches under ``<producer>__<consumer>``)."""
    p = pipeline(name="ex", params=N, steps=[
        step("double", fn=double), step("plus_one", fn=plus_one),
        step("numbers", fn=numbers), step("lows", fn=lows), step("highs", fn=highs)])
    ex = PipelineExecutor(p.dag)
    result = ex.execute(N(3))
    assert ex.result is result
    assert ex.outputs["n"] == 3
    assert ex.outputs["double"] == 6 and ex.outputs["plus_one"] == 7
    assert ex.outputs["lows"] == 1 and ex.outputs["highs"] == 3
    assert p.dag.output_key("numbers", "lows") == "numbers__lows"
    assert "numbers__lows" in ex.outputs and "numbers__highs" in ex.outputs


def test_async_executor_outputs():
    async def half(n: int) -> float:
        return n / 2

    p = pipeline(name="ax", params=N, steps=[step("half", fn=half)])
    ex = AsyncPipelineExecutor(p.dag)
    result = asyncio.run(ex.execute(N(3)))
    assert ex.outputs["n"] == 3 and ex.outputs["half"] == 1.5
    assert result.outputs == {"half": 1.5}


class Conn:
    pass


def conn() -> Conn:
    return Conn()


def uses(n: int, conn: Conn) -> str:
    return type(conn).__name__


def test_executor_uses_dag_resources():
    """0.32.4's executor defaulted to no resource factories; this one uses the Dag's."""
    p = pipeline(name="res", params=N, resources={"conn": conn},
                 steps=[step("uses", fn=uses)])
    assert PipelineExecutor(p.dag).execute(N(1)).outputs == {"uses": "Conn"}


# -- which runner takes which pipeline ----------------------------------------------------


async def a_double(n: int) -> int:
    return 2 * n


def test_sync_runner_refuses_async_pipeline():
    """Before any event fires, with a message that names the right entry point."""
    events = []

    async def observe(ctx):
        events.append(ctx)

    p = pipeline(name="asyncish", params=N, observers=[Observer(observe)],
                 steps=[step("a_double", fn=a_double)])
    with pytest.raises(RunnerMismatchError) as info:
        run(p, N(1))
    assert isinstance(info.value, RuntimeError)
    assert "async_run" in str(info.value) and "'asyncish'" in str(info.value)
    assert events == []


def sleepy(n: int) -> int:
    time.sleep(0.3)
    return n


def after_sleep(sleepy: int) -> int:
    return sleepy + 1


def test_asyncio_runner_takes_sync_pipeline():
    """0.32.4 awaited the results of plain ``def`` steps (TypeError); here the sync
    pipeline runs off the event loop: a blocking step does not stop other tasks."""
    p = pipeline(name="blocking", params=N, steps=[step("sleepy", fn=sleepy),
                                                   step("after_sleep", fn=after_sleep)])

    async def main() -> tuple:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        result = await async_run(p, N(1))
        stop.set()
        await task
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result.outputs == {"after_sleep": 2}
    assert ticks >= 5, f"the event loop was blocked: {ticks} ticks in 0.3 s"


def test_asyncio_runner_sync_errors_not_awaited():
    """Failing rows under CONTINUE use the sync default error materializer; nothing
    awaits a non-awaitable."""
    result = asyncio.run(async_run(pipeline(name="m", params=N, steps=list(mixed().steps)),
                                   N(3)))
    assert result.status == "completed_with_errors"
    assert result.outputs["total"] == 10


# -- params ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("params", [N(4), DataN(4), {"n": 4}],
                         ids=["namedtuple", "dataclass", "dict"])
def test_params_forms(kind, params):
    p = pipeline(name="forms", params=N, steps=[step("double", fn=double)])
    assert execute(kind, p, params).outputs == {"double": 8}


@pytest.mark.parametrize("kind", KINDS)
def test_params_unknown_key(kind):
    """0.32.4 ignored a dict's extra keys (a misspelt field went unnoticed)."""
    p = pipeline(name="forms", params=N, steps=[step("double", fn=double)])
    with pytest.raises(ParamsError, match=r"Pipeline 'forms': Unknown params field\(s\) for N: "
                       r"\['extra'\] \(its fields: n\)"):
        execute(kind, p, {"n": 4, "extra": 1})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [4, "n=4", [("n", 4)], N], ids=["int", "str", "list", "class"])
def test_params_bad_type(kind, bad):
    p = pipeline(name="forms", params=N, steps=[step("double", fn=double)])
    with pytest.raises(TypeError) as info:
        execute(kind, p, bad)
    assert "Pipeline params must be a NamedTuple, dataclass or dict" in str(info.value)
    assert type(bad).__name__ in str(info.value)


class Two(NamedTuple):
    n: int
    scale: int


def scaled(n: int, scale: int) -> int:
    return n * scale


def rescaled(scale: int) -> int:
    return scale + 1


@pytest.mark.parametrize("kind", KINDS)
def test_params_missing_field(kind):
    """0.32.4 silently skipped the steps; here the run refuses to start and says
    which field is missing and which steps need it."""
    events = []
    p = pipeline(name="missing", params=Two, observers=[Observer(events.append)],
                 steps=[step("scaled", fn=scaled), step("rescaled", fn=rescaled)])
    with pytest.raises(ValueError) as info:
        execute(kind, p, {"n": 2})
    message = str(info.value)
    assert "'scale'" in message and "'scaled'" in message and "'rescaled'" in message
    assert "Pipeline 'missing'" in message
    assert events == []


# -- observer events (07 §1.3) ----------------------------------------------------------


def _recorder() -> tuple[list, Any]:
    events: list[tuple[str, str | None]] = []

    def observe(ctx):
        events.append((ctx.event.value, getattr(ctx, "step_name", None)))
    return events, observe


def values(n: int) -> list[int]:
    return list(range(n))


def head(values: list[int]) -> int:
    return values[0]


def summed(numbers: Iterator[int]) -> int:
    return sum(numbers)


def shown(values: int) -> str:
    return str(values)


def _events_pipeline(handler: Any):
    """values (value, materialized) -> head; values -> shown (terminal EACH);
    numbers (generator) -> squared (EACH, materialized) -> total; numbers -> summed."""
    return pipeline(name="events", params=N, observers=[Observer(handler)], steps=[
        step("values", fn=values), step("head", fn=head), step("shown", fn=shown),
        step("numbers", fn=numbers), step("squared", fn=squared), step("total", fn=total),
        step("summed", fn=summed)], error_materializer=_swallow)


def _per_step(events: list) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event, name in events:
        if name is not None:
            out.setdefault(name, []).append(event)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_event_order(kind):
    events, handler = _recorder()
    result = execute(kind, _events_pipeline(handler), N(3))
    assert result.outputs["total"] == 1 + 9
    assert events[0] == ("pipeline_started", None)
    assert events[-1] == ("pipeline_completed", None)
    assert [e for e, _ in events].count("pipeline_started") == 1
    per = _per_step(events)
    started, completed, failed = "step_started", "step_completed", "step_failed"
    m_started, m_completed = "materialization_started", "materialization_completed"
    assert per["values"] == [started, completed, m_started, m_completed]  # value, materialized
    assert per["head"] == [started, completed]
    assert per["shown"] == [started, completed]  # terminal EACH (0.32.4 had no STARTED)
    assert per["numbers"] == [started, completed]  # generator, fan-out
    assert per["squared"] == [m_started, started, m_completed, completed]  # EACH, collected
    assert per["total"] == [started, completed]
    assert per["summed"] == [started, completed]
    assert failed not in sum(per.values(), [])


@pytest.mark.parametrize("kind", KINDS)
def test_generator_starts_at_first_pull(kind):
    """A lazy generator's STARTED comes when its consumer pulls the first item (inside
    the consumer's run), its COMPLETED when the consumer exhausted it."""
    events, handler = _recorder()
    p = pipeline(name="lazy", params=N, observers=[Observer(handler)],
                 steps=[step("numbers", fn=numbers), step("summed", fn=summed)])
    assert execute(kind, p, N(4)).outputs == {"summed": 10}
    assert events == [("pipeline_started", None), ("step_started", "summed"),
                      ("step_started", "numbers"), ("step_completed", "numbers"),
                      ("step_completed", "summed"), ("pipeline_completed", None)]


def picky(numbers: int) -> int:
    if numbers == 2:
        raise ValueError("stop here")
    return numbers


def picky_sum(picky: Iterator[int]) -> int:
    return sum(picky)


@pytest.mark.parametrize("kind", KINDS)
def test_failed_event_is_last(kind):
    """On a fatal error, PipelineEvent.FAILED is the last event and names the step."""
    contexts: list = []
    p = pipeline(name="fatal", params=N, error_materializer=_swallow,
                 observers=[Observer(contexts.append)], steps=[
                     step("numbers", fn=numbers), step("picky", fn=picky, on_error=OnError.STOP),
                     step("picky_sum", fn=picky_sum)])
    with pytest.raises(PipelineStopException):
        execute(kind, p, N(5))
    names = [(c.event.value, getattr(c, "step_name", None)) for c in contexts]
    assert names[0] == ("pipeline_started", None)
    assert names[-1] == ("pipeline_failed", "picky")
    assert isinstance(contexts[-1].exception, ValueError)  # the cause, unwrapped
    assert ("pipeline_completed", None) not in names
    per = _per_step(names[:-1])
    assert per["picky"] == ["step_started", "step_failed"]
    failed = [c for c in contexts if c.event.value == "step_failed"][0]
    assert (failed.success_count, failed.error_count) == (1, 1)
    assert isinstance(failed.exception, ValueError)


# -- the default error materializer ------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_default_error_log_line(kind, caplog):
    """One WARNING per failed row on logger ``synaflow``: ``[<pipeline>] [<step>]
    [<run_id>] on item <index> (<item>): <ExcType>: <message>`` (the dataset's name too
    when it differs from the step's)."""
    p = pipeline(name="logs", params=N, steps=[step("numbers", fn=numbers),
                                               step("squared", fn=squared),
                                               step("total", fn=total)])
    with caplog.at_level(logging.DEBUG, logger="synaflow"):
        result = execute(kind, p, N(3))
    assert result.outputs == {"total": 10}
    warnings = [r for r in caplog.records
                if r.name == "synaflow" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].getMessage() == (
        f"[logs] [squared] [{result.run_id}] on item 1 (2): ValueError: two is not welcome")


# -- observers never change execution -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_failing_observer_is_logged(kind, caplog):
    """A handler that raises is logged at ERROR on ``synaflow.observers`` with the
    event name; the run and the other handlers carry on."""
    seen: list[str] = []

    def broken(ctx):
        if ctx.event.value == "step_started":
            raise RuntimeError("observer bug")

    def fine(ctx):
        seen.append(ctx.event.value)

    p = pipeline(name="obs", params=N, observers=[Observer(broken), Observer(fine)],
                 steps=[step("double", fn=double), step("plus_one", fn=plus_one)])
    with caplog.at_level(logging.ERROR, logger="synaflow.observers"):
        result = execute(kind, p, N(2))
    assert result.outputs == {"plus_one": 5} and result.status == "succeeded"
    assert seen.count("step_started") == 2 and seen[-1] == "pipeline_completed"
    errors = [r for r in caplog.records if r.name == "synaflow.observers"]
    assert len(errors) == 2
    assert all(r.levelno == logging.ERROR for r in errors)
    assert all(r.getMessage() == "Observer handler failed for event 'step_started'"
               for r in errors)
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in errors)
