"""A pipeline whose EACH step sleeps on one item (for the Ray stall test)."""
from __future__ import annotations

import time
from typing import NamedTuple

from synaflow import pipeline, step


class Rows(NamedTuple):
    items: list[int] = [0, 1, 2, 3]


def stuck_on_two(item: int) -> int:
    if item == 2:
        time.sleep(3.0)
    return item


def collect(stuck_on_two: list[int]) -> int:
    return len(stuck_on_two)


STUCK = pipeline(name="stuck", params=Rows, steps=[step("stuck_on_two", fn=stuck_on_two),
                                                   step("collect", fn=collect)])
