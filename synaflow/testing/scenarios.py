"""Pipelines that hung SynaFlow 0.32.4, shared by the hang tests and ``bench_hangs``.

They must end here: with a ``StallError`` that names the blocked hand-off, or with
the error that caused them.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

from ..core.definition import pipeline, step


class Count(NamedTuple):
    n: int


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def left(numbers: int) -> int:
    return numbers


def right(numbers: int) -> int:
    return -numbers


def one_after_other(left: Iterator[int], right: Iterator[int]) -> tuple:
    return list(left), list(right)


def sequential_reader(mif: int = 1):
    """One step reads two lazy branches of one fan-out, ``list(left)`` then ``list(right)``."""
    return pipeline(name="seq_reader", params=Count, steps=[
        step("numbers", fn=numbers, max_in_flight=mif), step("left", fn=left),
        step("right", fn=right), step("one_after_other", fn=one_after_other)])


class Downloader:
    pass


def no_network() -> Downloader:
    """A resource factory that fails (0.32.4 hung on Python 3.11 when it fed an EACH
    step over an async stream)."""
    raise ConnectionError("no route to host")


async def urls(n: int) -> AsyncIterator[str]:
    for i in range(n):
        yield f"https://example.org/{i}"
