"""0.32.4 pipeline modules import, wire and run as they did (issue 22).

One test (or a few) per behaviour of 0.32.4 that a project written against it relies
on at build time or in how its callables are inspected.
"""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import NamedTuple
from unittest.mock import AsyncMock, MagicMock, call

import pytest

from synaflow import (OnError, PipelineStopException, StepMode, async_run, pipeline, run,
                      step)
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


# -- item 3: callables that are not functions ----------------------------------------------
def mock_step(cls, **params: type):
    """A mock set up as 0.32.4's own tests set up steps: its own signature and hints."""
    mock = cls()
    mock.__annotations__ = dict(params)
    mock.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=t)
         for n, t in params.items()])
    return mock


class Batch(NamedTuple):
    items: list[int] = [1, 2, 3]


def test_magicmock_wired_from_its_own_signature():
    """A MagicMock taking ``item: int`` from a list is an EACH step typed ``int``."""
    fn = mock_step(MagicMock, item=int)
    p = pipeline(name="mocked", params=Batch, steps=[step("s", fn=fn)])
    node = p.dag.steps["s"]
    assert (node.mode, node.fn_kind, dict(node.deps)) == (StepMode.EACH, "sync", {"items": int})
    run(p, Batch())
    assert fn.call_args_list == [call(item=1), call(item=2), call(item=3)]


def test_asyncmock_is_an_async_step():
    """An AsyncMock is async (its class's ``__call__`` is not), and awaited per item."""
    fn = mock_step(AsyncMock, item=int)
    p = pipeline(name="mocked", params=Batch, steps=[step("s", fn=fn)])
    assert p.dag.steps["s"].fn_kind == "async" and p.dag.steps["s"].mode is StepMode.EACH
    asyncio.run(async_run(p, Batch()))
    assert fn.await_args_list == [call(item=1), call(item=2), call(item=3)]


def test_asyncmock_in_a_sync_pipeline_is_refused():
    """Being async, it cannot sit behind a sync generator."""
    def gen(items: list[int]) -> Iterator[int]:
        yield from items

    fn = mock_step(AsyncMock, gen=int)
    with pytest.raises(PipelineDefinitionError, match="is UNRUNNABLE: it mixes async steps"):
        pipeline(name="mixed", params=Batch, steps=[step("gen", fn=gen), step("s", fn=fn)])


class AsyncCallable:
    async def __call__(self, item: int) -> int:
        return item * 2


class SyncCallable:
    def __call__(self, item: int) -> int:
        return item + 1


def test_callable_objects_read_from_their_call():
    """Without their own signature, instances are read from ``__call__``."""
    p = pipeline(name="objs", params=Batch, steps=[step("s", fn=AsyncCallable())])
    assert p.dag.steps["s"].fn_kind == "async" and p.dag.steps["s"].mode is StepMode.EACH
    assert asyncio.run(async_run(p, Batch())).outputs == {"s": [2, 4, 6]}
    p = pipeline(name="objs", params=Batch, steps=[step("s", fn=SyncCallable())])
    assert run(p, Batch()).outputs == {"s": [2, 3, 4]}


# -- item 4: run-time duck typing ----------------------------------------------------------
class Db:
    pass


MOCK_DB = MagicMock(name="db")


def open_mock_db() -> Db:
    return MOCK_DB


def use_db(n: int, conn: Db) -> int:
    SEEN.append(conn)
    return n


async def use_db_async(n: int, conn: Db) -> int:
    SEEN.append(conn)
    return n


SEEN: list = []


class One(NamedTuple):
    n: int = 1


@pytest.mark.parametrize("fn,runner", [(use_db, run), (use_db_async, async_run)])
def test_mock_resource_is_handed_over_as_itself(fn, runner):
    """A MagicMock resource is the resource, not ``mock.__enter__()``."""
    SEEN.clear()
    MOCK_DB.reset_mock()
    p = pipeline(name="mockdb", params=One, resources={"conn": open_mock_db},
                 steps=[step("use", fn=fn)])
    result = runner(p, One())
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    assert SEEN == [MOCK_DB] and SEEN[0] is MOCK_DB
    assert not MOCK_DB.__enter__.called and not MOCK_DB.__aenter__.called


MOCK_VALUE = MagicMock(name="ids")


def existing_ids(n: int) -> set[int]:
    return MOCK_VALUE


def consume_ids(existing_ids: set[int]) -> None:
    SEEN.append(existing_ids)


async def existing_ids_async(n: int) -> set[int]:
    return MOCK_VALUE


async def consume_ids_async(existing_ids: set[int]) -> None:
    SEEN.append(existing_ids)


@pytest.mark.parametrize("fns,runner", [((existing_ids, consume_ids), run),
                                        ((existing_ids_async, consume_ids_async), async_run)])
def test_mock_value_is_passed_on_as_a_value(fns, runner):
    """A MagicMock returned by a value step is a value, not an iterator."""
    SEEN.clear()
    p = pipeline(name="mockvalue", params=One, steps=[step("existing_ids", fn=fns[0]),
                                                      step("consume", fn=fns[1])])
    result = runner(p, One())
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    assert len(SEEN) == 1 and SEEN[0] is MOCK_VALUE


def test_protocols_ignore_mock_proxies():
    from contextlib import nullcontext

    from synaflow.core.protocols import (is_async_context_manager, is_async_iterator,
                                         is_context_manager, is_iterator)

    mock = MagicMock()
    assert not any(f(mock) for f in (is_iterator, is_async_iterator, is_context_manager,
                                      is_async_context_manager))
    assert is_iterator(iter([1])) and not is_iterator([1])
    assert is_context_manager(nullcontext()) and is_async_context_manager(nullcontext())
    assert is_context_manager(mock.__enter__) is False


# -- item 5: list fields of the frozen contract --------------------------------------------
def each_item(item: int) -> int:
    return item


def each_sum(each_item: list[int]) -> int:
    return sum(each_item)


def test_list_fields_compare_equal_to_lists():
    """``node.each_mode_deps == ["items"]`` holds as in 0.32.4, and stays read-only,
    hashable, a JSON array, and the same after pickling."""
    import json
    import pickle

    p = pipeline(name="lists", params=Batch, steps=[step("each_item", fn=each_item),
                                                    step("each_sum", fn=each_sum)])
    node = p.dag.steps["each_item"]
    assert node.each_mode_deps == ["items"] and ["items"] == node.each_mode_deps
    assert not node.each_mode_deps != ["items"] and node.each_mode_deps != ["other"]
    assert node.consumers == ["each_sum"] and node.each_mode_deps == ("items",)
    assert p.dag.steps["each_sum"].materialized_deps == ["each_item"]
    assert p.dag.pipeline_observers == [] and p.dag.steps["each_sum"].each_mode_deps == []
    assert hash(node.each_mode_deps) == hash(("items",)) and hash(node) == hash(node)
    assert json.loads(json.dumps({"d": node.each_mode_deps})) == {"d": ["items"]}
    again = pickle.loads(pickle.dumps(node))
    assert again.each_mode_deps == ["items"] and again == node
    with pytest.raises((TypeError, AttributeError)):
        node.each_mode_deps.append("x")  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        node.each_mode_deps[0] = "x"  # type: ignore[index]
    assert node.consumers + ["more"] == ["each_sum", "more"]


# -- item 6: a pipeline-level materializer reaches a force-materialized terminal step -------
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


def as_tuple(value):
    return tuple(value)


async def as_tuple_async(value):
    return tuple([v async for v in value])


def test_pipeline_materializer_applies_to_forced_terminal_step():
    p = pipeline(name="forced", params=One, materializer=as_tuple,
                 steps=[step("count_up", fn=count_up, force_materialize=True)])
    assert p.dag.steps["count_up"].materializer is as_tuple
    assert run(p, One(3)).outputs == {"count_up": (0, 1, 2)}


def test_pipeline_materializer_skips_plain_terminal_step():
    def total(count_up: list[int]) -> int:
        return sum(count_up)

    p = pipeline(name="plain", params=One, materializer=as_tuple,
                 steps=[step("count_up", fn=count_up), step("total", fn=total)])
    assert p.dag.steps["total"].materializer is None
    assert run(p, One(3)).outputs == {"total": 3}


def test_pipeline_materializer_shape_mismatch_on_forced_terminal_is_a_build_error():
    with pytest.raises(PipelineDefinitionError,
                       match="materializer 'as_tuple_async' is async but the pipeline runs "
                             "synchronously"):
        pipeline(name="forced", params=One, materializer=as_tuple_async,
                 steps=[step("count_up", fn=count_up, force_materialize=True)])


def test_memory_materializer_factory_collects_forced_terminal_into_a_list():
    from synaflow.materializers import memory_materializer

    p = pipeline(name="forced", params=One, materializer=memory_materializer(),
                 steps=[step("count_up", fn=count_up, force_materialize=True)])
    assert run(p, One(3)).outputs == {"count_up": [0, 1, 2]}


# -- item 8: included steps expose the prefixed dependencies ----------------------------
class ChildParams(NamedTuple):
    items: list[int]
    factor: int


def child_emit(items: list[int]) -> Iterator[int]:
    yield from items


def child_multiply(emit: int, factor: int) -> int:
    return emit * factor


async def child_scale_async(factor: int) -> int:
    return factor * 2


def adapt(items: list[int], factor: int) -> ChildParams:
    return ChildParams(items=items, factor=factor)


async def adapt_async(items: list[int], factor: int) -> ChildParams:
    return ChildParams(items=items, factor=factor)


def nested_parent(multiply=child_multiply):
    from synaflow import include

    child = pipeline(name="Child", params=ChildParams, exports="multiply",
                     steps=[step("emit", fn=child_emit), step("multiply", fn=multiply)])
    return pipeline(name="Parent", params=ChildParams,
                    steps=[include("child", pipeline=child, fn=adapt)])


def test_included_step_signature_names_prefixed_dependencies():
    """As 0.32.4's expansion: keyword-only, sibling steps prefixed, params fields through
    the adapter (typed as the sub-pipeline's params class)."""
    parent = nested_parent()
    fn = parent.dag.steps["child"].fn
    sig = inspect.signature(fn)
    assert list(sig.parameters) == ["child__emit", "child__adapter"]
    assert sig.parameters["child__emit"].annotation is int
    assert sig.parameters["child__adapter"].annotation is ChildParams
    assert all(p.kind is p.KEYWORD_ONLY for p in sig.parameters.values())
    assert fn.__name__ == "child_multiply" and fn.__wrapped__ is child_multiply
    # Called with those names it reaches the original parameters; with the original
    # names (as the runners call it) it is the original function.
    assert fn(child__emit=3, child__adapter=ChildParams([], 5)) == 15
    assert fn(emit=3, factor=2) == 6
    assert list(inspect.signature(parent.dag.steps["child__emit"].fn).parameters) == \
        ["child__adapter"]
    # Top-level steps keep the user's own function.
    assert parent.dag.steps["child__adapter"].fn is adapt


def test_included_step_wrapper_runs_and_round_trips():
    import pickle

    from synaflow import Dag

    parent = nested_parent()
    assert run(parent, ChildParams([1, 2], 3)).outputs == {"child": [3, 6]}
    node = parent.dag.steps["child"]
    assert node.fn_kind == "sync" and pickle.loads(pickle.dumps(node.fn)) == node.fn
    loaded = Dag.from_dict(parent.to_dict())
    assert loaded.to_dict() == parent.to_dict()
    assert list(inspect.signature(loaded.steps["child"].fn).parameters) == \
        ["child__emit", "child__adapter"]

    from synaflow import include

    child = pipeline(name="Child", params=ChildParams, exports="scale",
                     steps=[step("scale", fn=child_scale_async)])
    parent = pipeline(name="Parent", params=ChildParams,
                      steps=[include("child", pipeline=child, fn=adapt_async)])
    assert parent.dag.steps["child"].fn_kind == "async"
    assert asyncio.run(async_run(parent, ChildParams([], 4))).outputs == {"child": 8}


# -- a Dag built by hand (0.32.4's public Dag/DagNode) ------------------------------------
HAND_CALLS: list = []


def hand_consumer(items: int) -> None:
    HAND_CALLS.append(items)


async def hand_consumer_async(items: int) -> None:
    HAND_CALLS.append(items)


def hand_built(fn, kind: str):
    from synaflow.core.dag import Dag, DagNode, OutputContract, PublishPlan

    return Dag(name="manual", params={"items": list[int]}, steps={
        "consumer": DagNode(
            fn=fn, deps={"items": int}, output=None, on_error=OnError.CONTINUE,
            mode=StepMode.EACH, each_mode_deps=["items"],
            output_contract=OutputContract(runtime_kind=kind, completion_policy="on_exhaustion",
                                           drain_policy="terminal"),
            publish_plan=PublishPlan(strategy="publish_value", handoff="none",
                                     max_in_flight=1))})


def test_hand_built_dag_runs_as_declared():
    """Bindings come from ``deps``, names from the keys, the kind from the function, and
    the mappings are frozen; the runners obey the node's EACH mode."""
    from synaflow.core.frozen import FrozenDict

    dag = hand_built(hand_consumer, "sync_stream")
    node = dag.steps["consumer"]
    assert node.name == "consumer" and [b.param for b in node.bindings] == ["items"]
    assert isinstance(dag.params, FrozenDict) and isinstance(dag.steps, FrozenDict)
    HAND_CALLS.clear()
    run(dag, Batch([1, 2, 3]))
    assert HAND_CALLS == [1, 2, 3]
    dag = hand_built(hand_consumer_async, "async_stream")
    assert dag.steps["consumer"].fn_kind == "async" and dag.requires_async_runner
    HAND_CALLS.clear()
    asyncio.run(async_run(dag, Batch([4, 5])))
    assert HAND_CALLS == [4, 5]


# -- issue 24, item 8: one size parser; Ray's own resources refused at build time -------
@pytest.mark.parametrize("raw, expected", [("2GB", 2 * 10**9), ("512MiB", 512 << 20),
                                           (1 << 30, 1 << 30), ("1.5GiB", 3 << 29)])
def test_ray_memory_takes_a_size(raw, expected):
    p = pipeline(name="sized", params=One, steps=[step("a", fn=sized_step,
                                                       ray={"memory": raw})])
    assert p.dag.steps["a"].ray_options["memory"] == expected
    assert p.to_dict()["steps"]["a"]["ray_options"] == {"memory": expected}


def sized_step(n: int) -> int:
    return n


@pytest.mark.parametrize("opts, phrase", [
    ({"memory": "lots"}, "Ray option 'memory' must be bytes: an int >= 0 or a size"),
    ({"memory": -1}, "Ray option 'memory' must be bytes"),
    ({"resources": {"CPU": 1}}, "names 'CPU', one of Ray's own resources"),
    ({"resources": {"GPU": 1}}, "use ray={'num_gpus': 1} instead"),
])
def test_bad_ray_sizes_and_resources_refused_at_build(opts, phrase):
    with pytest.raises(PipelineDefinitionError) as info:
        pipeline(name="sized", params=One, steps=[step("a", fn=sized_step, ray=opts)])
    assert phrase in str(info.value) and "step 'a'" in str(info.value)
