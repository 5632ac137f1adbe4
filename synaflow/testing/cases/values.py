"""Value steps, params, EACH over params, smart binding."""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterator
from typing import NamedTuple

from ...core.definition import step
from ..case import Case, make


class Nums(NamedTuple):
    numbers: list[int]
    factor: int = 2


@dataclass
class Cfg:
    base: int = 10


def total(numbers: list[int]) -> int:
    return sum(numbers)


def scaled(total: int, factor: int) -> int:
    return total * factor


def label(scaled: int) -> str:
    return f"total={scaled}"


def value_chain():
    return make("value_chain", Nums, [step("total", fn=total), step("scaled", fn=scaled),
                                      step("label", fn=label)])


def square(number: int) -> int:
    return number * number


def squares_sum(square: list[int]) -> int:
    return sum(square)


def each_over_params():
    return make("each_over_params", Nums, [step("square", fn=square),
                                           step("squares_sum", fn=squares_sum)])


def plus_base(base: int) -> int:
    return base + 1


def dataclass_params():
    return make("dataclass_params", Cfg, [step("plus_base", fn=plus_base)])


def shout(number: int) -> str:
    return str(number) * 2


def each_terminal():
    return make("each_terminal", Nums, [step("shout", fn=shout)])


def loose(numbers: list[int]) -> set[int]:
    return list(numbers)  # type: ignore[return-value]  # a list, though it says set


def as_declared(loose: set[int]) -> str:
    return f"{type(loose).__name__} {len(loose)}"


def as_stream(loose: Iterator[int]) -> str:
    return type(loose).__name__


def plain_value_unchanged():
    """Only streams are shaped per consumer: a value reaches every consumer as the very
    object its step returned (0.32.4), whatever the consumer declares."""
    return make("plain_value_unchanged", Nums, [
        step("loose", fn=loose), step("as_declared", fn=as_declared),
        step("as_stream", fn=as_stream)])


CASES = [
    Case("value_chain", value_chain, Nums([1, 2, 3]), {"label": "total=12"}),
    Case("each_over_params", each_over_params, Nums([1, 2, 3]), {"squares_sum": 14}),
    Case("dataclass_params", dataclass_params, Cfg(), {"plus_base": 11}),
    Case("dict_params", dataclass_params, {"base": 4}, {"plus_base": 5}),
    Case("each_terminal_keeps_items", each_terminal, Nums([1, 2]), {"shout": ["11", "22"]}),
    Case("plain_value_unchanged", plain_value_unchanged, Nums([1, 1, 2]),
         {"as_declared": "list 3", "as_stream": "list"}),
]
