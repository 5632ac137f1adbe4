"""Spec 04 §8.1: stream -> EACH (smart-bound) -> materialized collect."""
from collections.abc import Iterator
from typing import NamedTuple

from synaflow import pipeline, step


class Params(NamedTuple):
    limit: int = 5


def readings(limit: int) -> Iterator[float]:
    for i in range(limit):
        yield 20.0 + i


def kelvin(reading: float) -> float:
    return reading + 273.15


def summary(kelvin: list[float]) -> dict[str, float]:
    return {"min": min(kelvin), "max": max(kelvin)}


weather = pipeline(
    name="weather",
    params=Params,
    steps=[
        step("readings", fn=readings),
        step("kelvin", fn=kelvin),
        step("summary", fn=summary),
    ],
)
