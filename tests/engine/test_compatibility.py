"""One test per deliberate difference from SynaFlow 0.32.4 (docs/compatibility.md)."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, Generator, NamedTuple, Optional

import pytest

import synaflow
from synaflow import (ExecutionOverrides, Observer, OnError, PIPELINE_SCOPE,
                      PipelineStopException, StepEvent, ThresholdExceededException,
                      async_run, include, pipeline, run, step)
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.execution.sync_engine import PipelineExecutor


class P(NamedTuple):
    n: int = 4


class L(NamedTuple):
    items: list[int]


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def total(numbers: Iterator[int]) -> int:
    return sum(numbers)


def events_of(p, params, runner=run):
    seen = []
    ov = ExecutionOverrides.from_production(p)
    ov.observers[PIPELINE_SCOPE] = [Observer(lambda ctx: seen.append(ctx))]
    result = runner(p, params, ov)
    return result, seen


# -- build time -------------------------------------------------------------------------
def test_validates_at_construction():
    """A broken definition fails where it is written, not at registration."""
    def f(missing: int) -> int:
        return missing
    with pytest.raises(PipelineDefinitionError, match="depends on 'missing'"):
        pipeline(name="x", params=P, steps=[step("f", fn=f)])


def test_documented_names_exist():
    p = pipeline(name="ok", params=P, steps=[step("numbers", fn=numbers),
                                             step("total", fn=total)])
    assert isinstance(synaflow.__version__, str)
    assert p.to_dict()["steps"]["total"]["mode"] == "all"
    assert run(p, P()).outputs == {"total": 6}
    from synaflow import disk_error_materializer, log_error_materializer, StepResult  # noqa
    from synaflow.types import MaterializeContext  # noqa: F401
    assert StepResult("s", "ok").status == "ok"


def test_step_named_like_param():
    def n(n: int) -> int:
        return n
    def other() -> int:
        return 1
    with pytest.raises(PipelineDefinitionError, match="collides with a params field"):
        pipeline(name="x", params=P, steps=[step("n", fn=other)])


def test_depends_on_hidden_step():
    def _h(n: int) -> int:
        return n
    def use(_h: int) -> int:
        return _h
    with pytest.raises(PipelineDefinitionError, match="hidden step '_h'"):
        pipeline(name="x", params=P, steps=[step("_h", fn=_h), step("use", fn=use)])


class Base:
    pass


class Child(Base):
    pass


def test_lenient_type_rules():
    """Any, subclasses, int -> float and PEP 604 optionals are accepted."""
    def child(n: int) -> Child:
        return Child()
    def as_any(child: Any) -> str:
        return type(child).__name__
    def as_base(child: Base) -> bool:
        return isinstance(child, Base)
    def as_float(n: float) -> float:
        return n / 2
    def as_opt(n: int | None) -> int:
        return n or 0
    p = pipeline(name="lenient", params=P, steps=[
        step("child", fn=child), step("as_any", fn=as_any), step("as_base", fn=as_base),
        step("as_float", fn=as_float), step("as_opt", fn=as_opt)])
    assert run(p, P(4)).outputs == {"as_any": "Child", "as_base": True, "as_float": 2.0,
                                    "as_opt": 4}


def test_generator_annotated_consumer():
    def gen_total(numbers: Generator[int, None, None]) -> int:
        return sum(numbers)
    def loose(numbers) -> int:
        return sum(numbers)
    p = pipeline(name="g", params=P, steps=[step("numbers", fn=numbers),
                                            step("gen_total", fn=gen_total),
                                            step("loose", fn=loose)])
    assert run(p, P(4)).outputs == {"gen_total": 6, "loose": 6}


class Conn:
    pass


@contextmanager
def open_conn() -> Iterator[Conn]:
    yield Conn()


def use_conn(conn: Conn, n: int) -> str:
    return type(conn).__name__


def test_contextmanager_resource_type():
    p = pipeline(name="cm", params=P, resources={"conn": open_conn},
                 steps=[step("use_conn", fn=use_conn)])
    assert p.dag.steps["use_conn"].mode.value == "all"
    assert run(p, P()).outputs == {"use_conn": "Conn"}


def test_unannotated_generator_is_stream():
    def raw(n: int):
        yield from range(n)
    def raw_total(raw: Iterator[int]) -> int:
        return sum(raw)
    p = pipeline(name="raw", params=P, steps=[step("raw", fn=raw),
                                              step("raw_total", fn=raw_total)])
    assert p.dag.steps["raw"].fn_kind == "sync_generator"
    assert run(p, P(3)).outputs == {"raw_total": 3}


def bare(n: int) -> Iterator:
    yield from range(n)


def test_incompatible_custom_materializer():
    def as_ints(bare: list[int]) -> int:
        return len(bare)
    def as_strs(bare: set[str]) -> int:
        return len(bare)
    steps = [step("bare", fn=bare), step("as_ints", fn=as_ints), step("as_strs", fn=as_strs)]
    ok = pipeline(name="shaped", params=P, steps=steps)
    assert run(ok, P(3)).outputs == {"as_ints": 3, "as_strs": 3}
    custom = [step("bare", fn=bare, materializer=sorted), *steps[1:]]
    with pytest.raises(ValueError, match="incompatible materialized types"):
        pipeline(name="custom", params=P, steps=custom)


class Reverse:
    def __call__(self, values: list) -> list:
        return list(reversed(values))


def test_materializer_without_name():
    def firsts(numbers: list[int]) -> int:
        return numbers[0]
    p = pipeline(name="inst", params=P, steps=[
        step("numbers", fn=numbers, materializer=Reverse()), step("firsts", fn=firsts)])
    assert p.to_dict()["steps"]["numbers"]["materializer"] == "Reverse"
    assert run(p, P(3)).outputs == {"firsts": 2}


def test_pipeline_level_materializer_factory():
    from synaflow.materializers.memory import memory_materializer
    def as_list(numbers: list[int]) -> list[int]:
        return numbers
    p = pipeline(name="pl", params=P, materializer=memory_materializer(),
                 steps=[step("numbers", fn=numbers), step("as_list", fn=as_list)])
    assert run(p, P(2)).outputs == {"as_list": [0, 1]}


class Sub(NamedTuple):
    k: int


async def sub_stream(k: int) -> AsyncIterator[int]:
    for i in range(k):
        yield i


async def sub_total(sub_stream: AsyncIterator[int]) -> int:
    return sum([x async for x in sub_stream])


def test_async_generator_in_include():
    inner = pipeline(name="inner", params=Sub, steps=[
        step("sub_stream", fn=sub_stream), step("sub_total", fn=sub_total)],
        exports="sub_total")
    async def to_sub(n: int) -> Sub:
        return Sub(n)
    outer = pipeline(name="outer", params=P, steps=[include("inc", fn=to_sub, pipeline=inner)])
    assert outer.dag.steps["inc__sub_stream"].fn_kind == "async_generator"
    assert asyncio.run(async_run(outer, P(4))).outputs == {"inc": 6}


def test_subpipeline_observers_called():
    seen = []
    def k_double(k: int) -> int:
        return 2 * k
    inner = pipeline(name="inner", params=Sub, steps=[step("k_double", fn=k_double)],
                     exports="k_double", observers=[Observer(lambda c: seen.append(c))])
    def to_sub(n: int) -> Sub:
        return Sub(n)
    outer = pipeline(name="outer", params=P, steps=[include("inc", fn=to_sub, pipeline=inner)])
    assert run(outer, P(5)).outputs == {"inc": 10}
    assert [(c.event, c.step_name) for c in seen] == [(StepEvent.STARTED, "inc"),
                                                      (StepEvent.COMPLETED, "inc")]


def test_nested_include_pipeline_names():
    def leaf(k: int) -> int:
        return k
    lvl2 = pipeline(name="lvl2", params=Sub, steps=[step("leaf", fn=leaf)], exports="leaf")
    def down(k: int) -> Sub:
        return Sub(k)
    lvl1 = pipeline(name="lvl1", params=Sub, steps=[include("i2", fn=down, pipeline=lvl2)],
                    exports="i2")
    def top(n: int) -> Sub:
        return Sub(n)
    root = pipeline(name="root", params=P, steps=[include("i1", fn=top, pipeline=lvl1)])
    nodes = root.dag.steps
    assert (nodes["i1"].pipeline, nodes["i1"].parent_pipeline) == ("lvl2", "lvl1")
    assert (nodes["i1__i2__adapter"].pipeline, nodes["i1__i2__adapter"].parent_pipeline) == \
        ("lvl1", "root")
    assert nodes["i1"].pipeline_scope == "root__i1__i2"


def test_dag_is_frozen():
    dag = pipeline(name="f", params=P, steps=[step("numbers", fn=numbers),
                                              step("total", fn=total)]).dag
    with pytest.raises(dataclasses.FrozenInstanceError):
        dag.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        dag["total"] = dag["numbers"]
    with pytest.raises(TypeError):
        dag.steps["total"] = dag["numbers"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        dag["total"].mode = None  # type: ignore[misc]


def test_definitions_are_frozen():
    p = pipeline(name="f", params=P, steps=[step("numbers", fn=numbers),
                                            step("total", fn=total)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "g"  # type: ignore[misc]


# -- run time ---------------------------------------------------------------------------
def test_run_returns_result():
    p = pipeline(name="r", params=P, steps=[step("numbers", fn=numbers),
                                            step("total", fn=total)])
    result = run(p, P(3))
    assert (result.status, result.outputs["total"]) == ("succeeded", 3)
    assert result.steps["numbers"].items_out == 3 and result.wall_time_s >= 0


def check3(item: int) -> int:
    if item == 1:
        raise ValueError("one")
    return item


def test_threshold_materialized_raises():
    def keep(check3: list[int]) -> list[int]:
        return check3
    p = pipeline(name="t", params=L, steps=[
        step("check3", fn=check3, error_threshold_absolute=1), step("keep", fn=keep)])
    with pytest.raises(ThresholdExceededException):
        run(p, L([0, 1, 2]))


def test_shapes_per_consumer():
    def doubled(number: int) -> int:
        return number * 2
    def distinct(doubled: set[int]) -> str:
        return type(doubled).__name__
    def streamed(doubled: Iterator[int]) -> str:
        return "iterator" if hasattr(doubled, "__next__") else type(doubled).__name__
    def frozen(doubled: tuple[int, ...]) -> str:
        return type(doubled).__name__
    p = pipeline(name="s", params=P, steps=[
        step("numbers", fn=numbers), step("doubled", fn=doubled),
        step("distinct", fn=distinct), step("streamed", fn=streamed),
        step("frozen", fn=frozen)])
    assert run(p, P(3)).outputs == {"distinct": "set", "streamed": "iterator",
                                    "frozen": "tuple"}


def test_consumer_force_materialize():
    def lazy(numbers: Iterator[int]) -> int:
        return sum(numbers)
    def forced(numbers: Iterator[int]) -> int:
        return max(numbers)
    p = pipeline(name="cf", params=P, steps=[
        step("numbers", fn=numbers), step("lazy", fn=lazy),
        step("forced", fn=forced, force_materialize=True)])
    assert p.to_dict()["steps"]["numbers"]["needs_materialize_reasons"] == \
        ["consumer_force_materialize"]
    assert run(p, P(4)).outputs == {"lazy": 6, "forced": 3}


def boom(items: list[int]) -> int:
    raise ValueError("boom")


def test_continue_reports_skips():
    def after(boom: int) -> int:
        return boom
    p = pipeline(name="c", params=L, steps=[step("boom", fn=boom), step("after", fn=after)])
    result = run(p, L([1]))
    assert result.status == "completed_with_errors"
    assert result.steps["boom"].status == "error"
    assert result.steps["after"].status == "skipped" and "boom" in result.steps["after"].reason


class Needed(NamedTuple):
    n: int


def test_missing_params_field():
    """0.32.4 skipped the steps that read a field a dict left out; here the run refuses
    to start (a field with a default is filled in instead)."""
    p = pipeline(name="m", params=Needed, steps=[step("numbers", fn=numbers),
                                                 step("total", fn=total)])
    with pytest.raises(ValueError, match=r"Missing required params field\(s\) for Needed: "
                       r"\['n'\]; 'n' is read by step\(s\) 'numbers'"):
        run(p, {})
    q = pipeline(name="m", params=P, steps=[step("numbers", fn=numbers), step("total", fn=total)])
    assert run(q, {}).outputs == run(q, P()).outputs


def test_producer_failure_is_producers():
    reports = []
    def broken(n: int) -> Iterator[int]:
        yield 1
        raise RuntimeError("midway")
    def summed(broken: Iterator[int]) -> int:
        return sum(broken)
    p = pipeline(name="pf", params=P, error_materializer=lambda e: reports.append(
        (e.step_name, e.success_count)), steps=[step("broken", fn=broken),
                                                step("summed", fn=summed)])
    result = run(p, P())
    assert reports == [("broken", 1)]
    assert result.outputs == {"summed": 1}
    assert result.steps["broken"].status == "error" and result.steps["summed"].status == "ok"


def test_terminal_each_started():
    def sink(number: int) -> None:
        pass
    def numbers_list(n: int) -> list[int]:
        return list(range(n))
    p = pipeline(name="te", params=P, steps=[step("numbers_list", fn=numbers_list),
                                             step("sink", fn=sink)])
    result, seen = events_of(p, P(2))
    sink_events = [c.event for c in seen if getattr(c, "step_name", None) == "sink"]
    assert sink_events == [StepEvent.STARTED, StepEvent.COMPLETED]
    assert result.outputs == {"sink": None}


def test_exported_terminal_stream():
    p = pipeline(name="ex", params=P, steps=[step("numbers", fn=numbers)], exports="numbers")
    assert run(p, P(3)).outputs == {"numbers": [0, 1, 2]}


def test_each_stop_materialized_once():
    reports = []
    def keep(check3: list[int]) -> list[int]:
        return check3
    p = pipeline(name="es", params=L, error_materializer=lambda e: reports.append(e),
                 steps=[step("check3", fn=check3, on_error=OnError.STOP),
                        step("keep", fn=keep)])
    with pytest.raises(PipelineStopException) as info:
        run(p, L([0, 1, 2]))
    assert len(reports) == 1
    assert str(info.value) == "Pipeline stopped at step 'check3': one"


def test_async_runs_sync_pipeline():
    p = pipeline(name="a", params=P, steps=[step("numbers", fn=numbers),
                                            step("total", fn=total)])
    assert asyncio.run(async_run(p, P(5))).outputs == {"total": 10}


def test_overrides_accept_dag():
    p = pipeline(name="o", params=P, steps=[step("numbers", fn=numbers),
                                            step("total", fn=total)])
    ov = ExecutionOverrides.from_production(p.dag)
    seen = []
    ov.observers[PIPELINE_SCOPE] = [lambda ctx: seen.append(ctx.event.value)]
    run(p, P(2), ov)
    assert seen[0] == "pipeline_started" and seen[-1] == "pipeline_completed"


class Db:
    def __init__(self, tag: str = "prod") -> None:
        self.tag = tag


def make_db() -> Db:
    return Db()


def tag(db: Db, n: int) -> str:
    return db.tag


def test_executor_default_resources():
    p = pipeline(name="r", params=P, resources={"db": make_db}, steps=[step("tag", fn=tag)])
    ex = PipelineExecutor(p.dag)
    ex.execute(P())
    assert ex.outputs["tag"] == "prod"


def test_overrides_empty_keeps_resources():
    p = pipeline(name="r", params=P, resources={"db": make_db}, steps=[step("tag", fn=tag)])
    assert run(p, P(), ExecutionOverrides.empty(p)).outputs == {"tag": "prod"}
    ov = ExecutionOverrides.empty(p)
    ov.resources["db"] = Db("fake")
    assert run(p, P(), ov).outputs == {"tag": "fake"}


def test_error_materializer_named_ctx():
    """``def record(ctx: ErrorContext)`` is an error materializer, not a factory."""
    from synaflow import ErrorContext
    seen = []
    def record(ctx: ErrorContext) -> None:
        seen.append(ctx.step_name)
    p = pipeline(name="ctxnamed", params=L, error_materializer=record,
                 steps=[step("boom", fn=boom)])
    assert run(p, L([1])).status == "completed_with_errors"
    assert seen == ["boom"]
