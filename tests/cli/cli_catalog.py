"""Pipelines the CLI tests run (besides ``examples.catalog``).

``CALLS`` records what the steps and observers saw, so tests can check it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

from synaflow import Observer, OnError, PipelineRegistry, StepMode, pipeline, step

CALLS: list = []


# -- every kind of field -------------------------------------------------------------------
class Point(NamedTuple):
    x: int
    y: int = 0


class Celsius:
    """A class pydantic knows nothing about: built by calling it with the value."""

    def __init__(self, degrees: object) -> None:
        self.degrees = float(degrees)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Celsius({self.degrees})"


@dataclass
class Kinds:
    count: int
    label: str = "x"
    ratio: float = 1.0
    verbose: bool = False
    blob: Optional[bytes] = None
    ids: list[int] = field(default_factory=list)
    flags: list[bool] = field(default_factory=list)
    note: Optional[str] = None
    limit: Optional[int] = None
    origin: Optional[Point] = None
    where: Path = Path(".")
    temp: Optional[Celsius] = None
    meta: dict[str, int] = field(default_factory=dict)


def echo(count: int, label: str, ratio: float, verbose: bool, blob: Optional[bytes],
         ids: list[int], flags: list[bool], note: Optional[str], limit: Optional[int],
         origin: Optional[Point], where: Path, temp: Optional[Celsius],
         meta: dict[str, int]) -> dict:
    seen = dict(count=count, label=label, ratio=ratio, verbose=verbose, blob=blob, ids=ids,
                flags=flags, note=note, limit=limit, origin=origin, where=where, temp=temp,
                meta=meta)
    CALLS.append(("kinds", seen))
    return seen


kinds = pipeline(name="kinds", params=Kinds, steps=[step("echo", fn=echo)])


# -- a checked constructor -------------------------------------------------------------------
@dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


def positive_n(n: int) -> int:
    return n


positive = pipeline(name="positive", params=Positive, steps=[step("positive_n", fn=positive_n)])


# -- observers, STOP, async ---------------------------------------------------------------------
class Small(NamedTuple):
    n: int = 3


def record(ctx: object) -> None:
    CALLS.append(("observer", getattr(ctx, "event").value))


def square(n: int) -> int:
    return n * n


observed = pipeline(name="observed", params=Small, steps=[step("square", fn=square)],
                    observers=[Observer(record)])


def explode(n: int) -> int:
    raise RuntimeError(f"boom {n}")


stopping = pipeline(name="stopping", params=Small,
                    steps=[step("explode", fn=explode, on_error=OnError.STOP)])


async def halve(n: int) -> float:
    return n / 2


asynchronous = pipeline(name="asynchronous", params=Small, steps=[step("halve", fn=halve)])


def items(n: int) -> list[int]:
    return list(range(n))


def odd_only(item: int) -> int:
    if item % 2 == 0:
        raise ValueError(f"{item} is even")
    return item


def collect(odd_only: list[int]) -> list[int]:
    return odd_only


partial = pipeline(name="partial", params=Small,
                   steps=[step("items", fn=items),
                          step("odd_only", fn=odd_only, mode=StepMode.EACH),
                          step("collect", fn=collect)])


# -- params fields that collide with CLI options -------------------------------------------------
class Clashing(NamedTuple):
    json: bool = False
    runner: str = "mine"
    observers: bool = True


def clash(json: bool, runner: str, observers: bool) -> str:
    CALLS.append(("clash", (json, runner, observers)))
    return runner


clashing = pipeline(name="clashing", params=Clashing, steps=[step("clash", fn=clash)])


class Reserved(NamedTuple):
    params_file: str = ""
    no_observers: bool = False


def uses_reserved(params_file: str, no_observers: bool) -> str:
    return params_file


reserved = pipeline(name="reserved", params=Reserved, steps=[step("uses_reserved",
                                                                  fn=uses_reserved)])


catalog = PipelineRegistry()
for _p in (kinds, positive, observed, stopping, asynchronous, partial, clashing, reserved):
    catalog.add(_p)
