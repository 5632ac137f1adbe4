"""Spec 04 §8.3: include, dataclass params, force_materialize, dict consumer."""
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from synaflow import ErrorContext, include, pipeline, step


class Sample(NamedTuple):
    values: list[int]


def mean(values: list[int]) -> float:
    return sum(values) / len(values)


def spread(values: list[int], mean: float) -> float:
    return max(abs(v - mean) for v in values)


stats = pipeline(
    name="stats",
    params=Sample,
    steps=[step("mean", fn=mean), step("spread", fn=spread)],
    exports="spread",
)


@dataclass
class Job:
    seed: int = 3


def to_sample(seed: int) -> Sample:
    return Sample(values=[seed, seed * 2, seed * 5])


def labels(seed: int) -> Iterator[tuple[str, int]]:
    for i in range(seed):
        yield (f"k{i}", i)


def index(labels: dict[str, int], dispersion: float) -> str:
    return f"{len(labels)} labels, spread {dispersion:.1f}"


def record_error(err: ErrorContext) -> None:
    print("error in", err.step_name, err.exception)


report = pipeline(
    name="report",
    params=Job,
    error_materializer=record_error,
    steps=[
        include("dispersion", fn=to_sample, pipeline=stats),
        step("labels", fn=labels, force_materialize=True),
        step("index", fn=index),
    ],
)
