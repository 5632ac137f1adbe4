"""Fused EACH chains: ``generator -> a -> b -> c`` runs ``a``, ``b`` and ``c`` in one
task per batch on the Ray runner, with every step's outputs, events and error
reports as on the synchronous runner; chains that must not fuse do not."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sys

import pytest
import ray_pipelines as rp
from ray import cloudpickle

from synaflow import OnError, step

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests


def source(n: int) -> Iterator[int]:
    yield from range(n)


def halved(source: int) -> int:
    if source % 11 == 5:
        raise ValueError(f"halved refuses {source}")
    return source // 2


def labelled(halved: int) -> str:
    if halved % 7 == 6:
        raise KeyError(halved)
    return f"#{halved}"


def measured(labelled: str) -> int:
    return len(labelled)


def summed(measured: Iterator[int]) -> int:
    return sum(measured)


def first_three(measured: Iterator[int]) -> list[int]:
    it = iter(measured)
    return [next(it) for _ in range(3)]


def chain(rec: Any = None, *, stop_in: str | None = None, options: dict | None = None,
          sink: Any = summed) -> Any:
    def policy(name: str) -> dict:
        extra: dict[str, Any] = {"on_error": OnError.STOP if name == stop_in else
                                 OnError.CONTINUE}
        if options and name in options:
            extra["ray"] = options[name]
        return extra
    return rp.make("fused", rp.N, [
        step("source", fn=source, max_in_flight=2),
        step("halved", fn=halved, **policy("halved")),
        step("labelled", fn=labelled, **policy("labelled")),
        step("measured", fn=measured, **policy("measured")),
        step(sink.__name__, fn=sink)], rec)


def outcome(mode: str, build: Any, n: int) -> tuple:
    rec = rp.Recorder()
    options = {} if mode == "sync" else {"debug": {"debug": True, "serialize": "serialize",
                                                   "ray": False}[mode]}
    executor = None
    try:
        if mode == "sync":
            result = rp.run(build(rec), rp.N(n))
        else:
            from synaflow.distributed import RayPipelineExecutor

            executor = RayPipelineExecutor(build(rec), **options)
            result = executor.execute(rp.N(n))
        got: Any = (result.status, dict(result.outputs))
    except Exception as exc:
        got = (type(exc).__name__, str(exc))
    return (got, rec.per_step(), rec.pipeline_events(), rec.error_summary()), executor


@pytest.mark.parametrize("n", [0, 1, 300])
def test_chain_fuses_and_reports_every_step(mode, n):
    expected, _ = outcome("sync", chain, n)
    got, executor = outcome(mode, chain, n)
    assert got == expected
    if executor is not None:
        assert executor.fused == [("halved", "labelled", "measured")]
    if n == 300:
        assert expected[0][0] == "completed_with_errors"
        assert {s for s, *_ in expected[3]} == {"halved", "labelled"}


@pytest.mark.parametrize("stop_in", ["halved", "labelled"])
def test_stop_inside_a_fused_chain(mode, stop_in):
    build = lambda rec: chain(rec, stop_in=stop_in)  # noqa: E731
    expected, _ = outcome("sync", build, 40)
    got, _ = outcome(mode, build, 40)
    assert got[0][0] == expected[0][0] == "PipelineStopException"
    assert got[3] == expected[3]  # the failing step's counts when it stopped
    assert got[1][stop_in] == expected[1][stop_in]


def test_consumer_that_leaves_early(mode):
    """The chain stops when its reader leaves. Batches run ahead of the reader, so on
    Ray they may already have met (and reported) failing rows that the in-process
    runner never reached: only the outputs are compared (docs/ray: Running ahead)."""
    build = lambda rec: chain(rec, sink=first_three)  # noqa: E731
    expected, _ = outcome("sync", build, 200)
    got, executor = outcome(mode, build, 200)
    assert expected[0] == ("succeeded", {"first_three": [2, 2, 2]})
    assert got[0][1] == expected[0][1]
    if executor is not None:
        assert executor.fused == [("halved", "labelled", "measured")]


@pytest.mark.parametrize("options, fused", [
    ({"labelled": {"num_cpus": 1}}, [("halved",), ("measured",)]),
    ({"halved": {"batch_size": 4}}, [("labelled", "measured")]),
])
def test_steps_with_ray_options_are_not_fused(ray_session, options, fused):
    build = lambda rec: chain(rec, options=options)  # noqa: E731
    expected, _ = outcome("sync", build, 100)
    got, executor = outcome("ray", build, 100)
    assert got == expected
    assert [c for c in executor.fused if len(c) > 1] == [c for c in fused if len(c) > 1]


def twice(halved: int) -> int:
    return halved * 2


def fan_out(rec: Any = None) -> Any:
    """``halved`` has two consumers: its stream is shared, so nothing fuses into it."""
    return rp.make("fan_out", rp.N, [
        step("source", fn=source), step("halved", fn=halved),
        step("labelled", fn=labelled), step("twice", fn=twice),
        step("measured", fn=measured), step("summed", fn=summed)], rec)


def test_shared_stream_is_not_fused(mode):
    expected, _ = outcome("sync", fan_out, 60)
    got, executor = outcome(mode, fan_out, 60)
    assert got == expected
    if executor is not None:
        assert executor.fused == [("labelled", "measured")]
