"""Three nested includes: root -> lvl1 (as i1) -> lvl2 (as i2) -> lvl3 (as i3).

Each level has its own params class; the leaf step of ``lvl3`` is exported all the
way up, so the root sees it as ``i1``. ``lvl1`` also has a step of its own that
reads the exported ``i2`` (an inner step depending on an exported include).
"""
from typing import NamedTuple

from synaflow import include, pipeline, step


class P3(NamedTuple):
    z: int


def leaf(z: int) -> int:
    return z * 10


lvl3 = pipeline(name="lvl3", params=P3, steps=[step("leaf", fn=leaf)], exports="leaf")


class P2(NamedTuple):
    y: int


def to_p3(y: int) -> P3:
    return P3(z=y + 1)


def pre2(y: int) -> int:
    return y - 1


lvl2 = pipeline(name="lvl2", params=P2,
                steps=[step("pre2", fn=pre2), include("i3", fn=to_p3, pipeline=lvl3)],
                exports="i3")


class P1(NamedTuple):
    x: int


def to_p2(x: int) -> P2:
    return P2(y=x * 2)


def post1(i2: int, x: int) -> int:
    return i2 + x


lvl1 = pipeline(name="lvl1", params=P1,
                steps=[include("i2", fn=to_p2, pipeline=lvl2), step("post1", fn=post1)],
                exports="post1")


class Root(NamedTuple):
    start: int = 1


def to_p1(start: int) -> P1:
    return P1(x=start)


def final(i1: int) -> str:
    return f"result={i1}"


root = pipeline(name="root", params=Root,
                steps=[include("i1", fn=to_p1, pipeline=lvl1), step("final", fn=final)])
