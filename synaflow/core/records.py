"""The small records a compiled step is made of: how its output behaves
(``OutputContract``), how each consumer takes it (``ConsumerContract``), how it is
published (``PublishPlan``) and how each parameter is wired (``Binding``).

They live below ``dag`` so that the contract's schema (``contract``) can build them
without importing the Dag; ``synaflow.core.dag`` exports them as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class OutputContract:
    """How a step's output behaves at run time (value or stream, when complete)."""

    runtime_kind: Literal["value", "sync_stream", "async_stream"]
    completion_policy: Literal["immediate", "on_exhaustion"]
    drain_policy: Literal["none", "terminal", "barrier_only"]


@dataclass(frozen=True, slots=True)
class ConsumerContract:
    """How one consumer takes a producer's output.

    ``shape`` is what that consumer receives from a materialized producer:
    ``list``/``set``/``tuple``/``dict`` (a fresh collection of that type), ``iter``
    (an iterator over the collection), ``items`` (unrolled, EACH) or ``as_is``.
    """

    consumer_name: str
    consumption: Literal["item", "materialized", "stream", "barrier_only"]
    shape: str = "as_is"


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """How a producer publishes: as a value, materialized, or as a bounded stream."""

    strategy: Literal["publish_value", "publish_materialized", "publish_stream",
                      "publish_sync_fanout", "publish_async_fanout"]
    handoff: Literal["none", "bounded_iterator", "sync_fanout", "async_queue"]
    max_in_flight: int


@dataclass(frozen=True, slots=True)
class Binding:
    """One function parameter wired to a producer.

    ``attr`` is set for steps of an included pipeline that read a field of the
    sub-pipeline's params: the function receives ``getattr(value, attr)``.
    """

    param: str
    producer: str
    declared_type: Any = None
    attr: str | None = None
