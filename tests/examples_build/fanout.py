"""A lazy stream fanned out to two consumers, a bounded handoff and a resource.

``numbers`` feeds two lazy consumers (``publish_sync_fanout`` with capacity 4, and
at most 1 MiB per branch: ``max_in_flight_bytes``);
``evens`` feeds one lazy consumer with ``max_in_flight=3`` (``bounded_iterator``);
``collect`` is a barrier reading ``squares`` whole; ``label`` uses a
``@contextmanager`` resource annotated ``-> Iterator[Prefix]``.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from synaflow import pipeline, step


class Params(NamedTuple):
    n: int = 6


class Prefix:
    def __init__(self, text: str) -> None:
        self.text = text


@contextmanager
def open_prefix() -> Iterator[Prefix]:
    yield Prefix("#")


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def squares(numbers: Iterator[int]) -> Iterator[int]:
    for v in numbers:
        yield v * v


def evens(number: Iterator[int]) -> Iterator[int]:
    for v in number:
        if v % 2 == 0:
            yield v


def label(even: int, prefix: Prefix) -> str:
    return f"{prefix.text}{even}"


def collect(squares: list[int], label: list[str]) -> dict[str, int]:
    return dict(zip(label, squares))


fanout = pipeline(
    name="fanout",
    params=Params,
    resources={"prefix": open_prefix},
    steps=[
        step("numbers", fn=numbers, max_in_flight=4, max_in_flight_bytes="1MiB"),
        step("squares", fn=squares),
        step("evens", fn=evens, max_in_flight=3),
        step("label", fn=label),
        step("collect", fn=collect),
    ],
)
