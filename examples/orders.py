"""Orders to per-region revenue: the pipeline the export docs schedule with Airflow,
Prefect and Dagster (docs/export/).

    python -m synaflow --catalog examples.orders run orders --days 3
    python -m synaflow --catalog examples.orders export airflow orders --store /tmp/runs

(run from the repository root, so that ``examples.orders`` is importable.)

``orders`` streams generated orders, ``priced`` prices each one (EACH), ``revenue``
collects them into an Arrow table, and ``by_region`` and ``top_region`` summarise it.
Exported, it runs as four tasks, one per streaming component: ``orders`` with
``priced`` (a stream cannot leave its process), then ``revenue``, ``by_region`` and
``top_region``, each reading the one before from the store.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import NamedTuple

import pyarrow as pa

from synaflow import PipelineRegistry, pipeline, step

REGIONS = ("north", "south", "east", "west")


class Orders(NamedTuple):
    days: int = 2
    per_day: int = 50
    vat: float = 0.2
    seed: int = 3


class Order(NamedTuple):
    day: int
    region: str
    net: int
    gross: float = 0.0


def orders(days: int, per_day: int, seed: int) -> Iterator[Order]:
    """Generate the orders lazily, one at a time."""
    rng = random.Random(seed)
    for day in range(days):
        for _ in range(per_day):
            yield Order(day, rng.choice(REGIONS), rng.randint(5, 500))


def priced(orders: Order, vat: float) -> Order:
    """One order with its gross amount (called once per order)."""
    return orders._replace(gross=round(orders.net * (1 + vat), 2))


def revenue(priced: list[Order]) -> pa.Table:
    """Every priced order, as one Arrow table."""
    return pa.Table.from_pylist([order._asdict() for order in priced])


def by_region(revenue: pa.Table) -> dict[str, float]:
    totals = revenue.group_by("region").aggregate([("gross", "sum")]).to_pylist()
    return {row["region"]: round(row["gross_sum"], 2) for row in sorted(
        totals, key=lambda row: row["region"])}


def top_region(by_region: dict[str, float]) -> str:
    return max(by_region, key=by_region.get)


orders_pipeline = pipeline(
    name="orders",
    params=Orders,
    steps=[
        step("orders", fn=orders),
        step("priced", fn=priced),
        step("revenue", fn=revenue, ray={"max_retries": 2, "num_cpus": 1}),
        step("by_region", fn=by_region),
        step("top_region", fn=top_region),
    ],
    exports="by_region",
    description="Per-region revenue of generated orders.",
)

catalog = PipelineRegistry()
catalog.add(orders_pipeline)
