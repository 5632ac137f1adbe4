"""Asymmetric lockstep detection (spec 03 §6.1).

A lazy fan-out re-joined through a barrier (a materialized or non-iterable node)
on some paths but not on others would deadlock at run time; the build refuses it
and names the fan-out and the join.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from buildkit import make_fn, raises_definition
from synaflow import pipeline, step


class P(NamedTuple):
    n: int = 3


def gen(name, params):
    return make_fn(name, params, Iterator[int], kind="gen")


def fn(name, params, ret=int):
    return make_fn(name, params, ret)


def src_step(**kw):
    return step("src", fn=gen("src", {"n": int}), **kw)


def build(*steps):
    return pipeline(name="lock", params=P, steps=list(steps))


TOPOLOGIES = [
    # id, steps, fan-out/join of the error or None when it must build
    ("minimal_trigger", lambda: [
        src_step(),
        step("total", fn=fn("total", {"src": Iterator[int]})),        # barrier
        step("scaled", fn=fn("scaled", {"src": int})),                # EACH, lazy
        step("join", fn=fn("join", {"total": int, "scaled": Iterator[int]}, None)),
    ], ("src", "join")),
    ("fixed_by_force", lambda: [
        src_step(force_materialize=True),
        step("total", fn=fn("total", {"src": Iterator[int]})),
        step("scaled", fn=fn("scaled", {"src": int})),
        step("join", fn=fn("join", {"total": int, "scaled": Iterator[int]}, None)),
    ], None),
    ("fixed_by_list_join", lambda: [
        src_step(),
        step("total", fn=fn("total", {"src": Iterator[int]})),
        step("scaled", fn=fn("scaled", {"src": int})),
        step("join", fn=fn("join", {"total": int, "scaled": list[int]}, None)),
    ], None),
    ("direct_list_branch", lambda: [
        src_step(),
        step("total", fn=fn("total", {"src": list[int]})),            # materializes src
        step("scaled", fn=fn("scaled", {"src": int})),
        step("join", fn=fn("join", {"total": int, "scaled": Iterator[int]}, None)),
    ], None),
    ("both_lazy", lambda: [
        src_step(),
        step("left", fn=fn("left", {"src": int})),
        step("right", fn=fn("right", {"src": int})),
        step("join", fn=fn("join", {"left": Iterator[int], "right": Iterator[int]}, None)),
    ], None),
    ("both_barriers", lambda: [
        src_step(),
        step("left", fn=fn("left", {"src": Iterator[int]})),
        step("right", fn=fn("right", {"src": Iterator[int]})),
        step("join", fn=fn("join", {"left": int, "right": int}, None)),
    ], None),
    ("fanout_reaches_join_direct", lambda: [
        src_step(),
        step("total", fn=fn("total", {"src": Iterator[int]})),
        step("join", fn=fn("join", {"total": int, "src": Iterator[int]}, None)),
    ], ("src", "join")),
    ("deep_barrier", lambda: [
        src_step(),
        step("a", fn=fn("a", {"src": int})),                          # lazy EACH
        step("b", fn=fn("b", {"a": Iterator[int]})),                  # barrier, 2 deep
        step("c", fn=fn("c", {"src": int})),                          # lazy EACH
        step("join", fn=fn("join", {"b": int, "c": Iterator[int]}, None)),
    ], ("src", "join")),
    ("barrier_after_join", lambda: [
        src_step(),
        step("left", fn=fn("left", {"src": int})),
        step("right", fn=fn("right", {"src": int})),
        step("join", fn=fn("join", {"left": Iterator[int], "right": Iterator[int]})),
        step("tail", fn=fn("tail", {"join": int}, None)),
    ], None),
    ("single_consumer", lambda: [
        src_step(),
        step("total", fn=fn("total", {"src": Iterator[int]})),
        step("after", fn=fn("after", {"total": int}, None)),
    ], None),
    ("each_fanout", lambda: [
        step("ids", fn=fn("ids", {"n": int}, list[int])),
        step("each", fn=fn("each", {"ids": int})),                    # EACH: lazy ListType
        step("total", fn=fn("total", {"each": Iterator[int]})),
        step("again", fn=fn("again", {"each": int})),
        step("join", fn=fn("join", {"total": int, "again": Iterator[int]}, None)),
    ], ("each", "join")),
    ("value_fanout_ignored", lambda: [
        step("v", fn=fn("v", {"n": int}, list[int])),                  # a value, not a stream
        step("total", fn=fn("total", {"v": list[int]})),
        step("each", fn=fn("each", {"v": int})),
        step("join", fn=fn("join", {"total": int, "each": Iterator[int]}, None)),
    ], None),
]


@pytest.mark.parametrize("steps, error", [r[1:] for r in TOPOLOGIES],
                         ids=[r[0] for r in TOPOLOGIES])
def test_asymmetric_lockstep(steps, error):
    """Refused exactly when one descendant is reached with and without a barrier."""
    if error is None:
        assert build(*steps()).dag is not None
        return
    fanout, join = error
    err = raises_definition(lambda: build(*steps()),
                            "Asymmetric lockstep materialization detected",
                            f"fanout '{fanout}'", f"join '{join}'", step=join)
    assert "force_materialize=True" in err.fix


def test_wide_ladder_builds():
    """A ladder of 40 lazy fan-outs joined symmetrically builds (memoized walk)."""
    steps = [src_step()]
    prev = "src"
    for i in range(40):
        left, right, join = f"l{i}", f"r{i}", f"j{i}"
        steps += [step(left, fn=fn(left, {prev: int})),
                  step(right, fn=fn(right, {prev: int})),
                  step(join, fn=make_fn(join, {left: Iterator[int], right: Iterator[int]},
                                        Iterator[int], kind="gen"))]
        prev = join
    steps.append(step("end", fn=fn("end", {prev: list[int]}, None)))
    dag = build(*steps).dag
    assert len(dag.get_execution_levels()) == 1 + 40 * 2 + 1
