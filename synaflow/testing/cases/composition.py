"""include() sub-pipelines: plain, per-item adapters, nested, exported dependencies."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ...core.definition import include, step
from ..case import Case, make


class Sample(NamedTuple):
    values: list[int]


def mean(values: list[int]) -> float:
    return sum(values) / len(values)


def spread(values: list[int], mean: float) -> float:
    return max(abs(v - mean) for v in values)


def stats():
    return make("stats", Sample, [step("mean", fn=mean), step("spread", fn=spread)],
                exports="spread")


class Job(NamedTuple):
    seed: int = 3


def to_sample(seed: int) -> Sample:
    return Sample([seed, seed * 2, seed * 5])


def describe(dispersion: float) -> str:
    return f"spread {dispersion:.1f}"


def simple_include():
    return make("report", Job, [include("dispersion", fn=to_sample, pipeline=stats()),
                                step("describe", fn=describe)])


def samples(seed: int) -> Iterator[Sample]:
    for i in range(1, seed + 1):
        yield Sample([i, i * 3])


def spreads(dispersion: list[float]) -> list[float]:
    return dispersion


def per_item_sub():
    return make("per_item_sub", Job, [include("dispersion", fn=samples, pipeline=stats()),
                                      step("spreads", fn=spreads)])


def doubled_spread(spread: float) -> float:
    return spread * 2


def stats_with_dependent():
    return make("stats2", Sample, [step("mean", fn=mean), step("spread", fn=spread),
                                   step("doubled_spread", fn=doubled_spread)],
                exports="spread")


def both(dispersion: float, dispersion__doubled_spread: float) -> tuple:
    return (dispersion, dispersion__doubled_spread)


def exported_dependency():
    return make("exported_dependency", Job, [
        include("dispersion", fn=to_sample, pipeline=stats_with_dependent()),
        step("both", fn=both)])


class Outer(NamedTuple):
    seed: int


def outer_sample(seed: int) -> Job:
    return Job(seed + 1)


def nested_sub():
    return make("middle", Job, [include("dispersion", fn=to_sample, pipeline=stats()),
                                step("describe", fn=describe)], exports="describe")


def nested():
    return make("nested", Outer, [include("middle", fn=outer_sample, pipeline=nested_sub())])


def digits(seed: int) -> Iterator[int]:
    yield from range(seed)


def digit_sum(digits: list[int]) -> int:
    return sum(digits)


def shown(inc: int) -> int:
    return inc


def digits_include():
    """A stream inside an include, materialized for its consumer (the default
    materializer; ``Scope("inc")("digits")`` is its override key)."""
    sub = make("digits_sub", Job, [step("digits", fn=digits), step("digit_sum", fn=digit_sum)],
               exports="digit_sum")
    return make("digits_include", Job, [include("inc", fn=outer_sample, pipeline=sub),
                                        step("shown", fn=shown)])


CASES = [
    Case("include_simple", simple_include, Job(3), {"describe": "spread 7.0"}),
    Case("include_per_item", per_item_sub, Job(2), {"spreads": [1.0, 2.0]}),
    Case("include_exported_dependency", exported_dependency, Job(3), {"both": (7.0, 14.0)}),
    Case("include_nested", nested, Outer(2), {"middle": "spread 7.0"}),
]
