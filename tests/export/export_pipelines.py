"""Pipelines for the orchestrator tests that the conformance cases do not cover: an
Arrow table output, a disk materializer, a step with retries and resources. Module
level, so a generated file imports them by ``module:attr``."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import NamedTuple

import pyarrow as pa

from synaflow import pipeline, step
from synaflow.core.pipeline_registry import PipelineRegistry
from synaflow.materializers.disk import disk_materializer
from synaflow.serializers import jsonl_serializer
from synaflow.testing import CASES

# Every conformance case's builder under a module-level name, so a generated file can
# build the case's pipeline again: export_pipelines:case_<name>.
for _case in CASES:
    globals()[f"case_{_case.name}"] = _case.build


class Sales(NamedTuple):
    out: str
    n: int = 4
    region: str = "eu"


def amounts(n: int) -> Iterator[int]:
    yield from range(1, n + 1)


def taxed(amounts: int) -> int:
    return amounts * 12


def table(taxed: list[int], region: str) -> pa.Table:
    return pa.table({"region": [region] * len(taxed), "taxed": taxed})


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def total(rows: list[dict]) -> int:
    return sum(r["taxed"] for r in rows)


def sales():
    return pipeline(name="sales", params=Sales, steps=[
        step("amounts", fn=amounts),
        step("taxed", fn=taxed),
        step("table", fn=table, ray={"max_retries": 2, "num_cpus": 1, "memory": "64MiB"}),
        step("rows", fn=rows, materializer=disk_materializer("{out}", jsonl_serializer)),
        step("total", fn=total),
    ], exports="table")


class When(NamedTuple):
    day: date


def iso_day(day: date) -> str:
    return day.isoformat()


def doubled(n: int) -> int:
    return 2 * n


catalog = PipelineRegistry()
catalog.add(sales())


def double_run(flow_run: int) -> int:
    return 2 * flow_run


def sales_with_defaults():
    return pipeline(name="sales_daily", params=Daily, steps=[
        step("amounts", fn=amounts), step("taxed", fn=taxed),
        step("table", fn=table)])


class Daily(NamedTuple):
    n: int = 4
    region: str = "eu"


async def fetch(n: int) -> int:
    return n + 1


async def shout(fetch: int) -> str:
    return f"{fetch}!"


def async_flow():
    return pipeline(name="async_flow", params=Daily,
                    steps=[step("fetch", fn=fetch), step("shout", fn=shout)])
