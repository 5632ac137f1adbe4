"""The compiler's state for one step while ``build_dag`` works (``BuildNode``).

Wiring fills the first group of fields (``dag_builder._wire_one``); planning the
materialization, the contracts and the scopes fills the rest, in that order; then the
node is frozen into a ``DagNode``. A misspelt field is an ``AttributeError`` here, where
a string-keyed dict would have made a new key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..types import StepMode


@dataclass(slots=True, eq=False)
class BuildNode:
    """One step being compiled."""

    # -- wiring --------------------------------------------------------------------------
    name: str
    flat: Any  # the expanded step definition (``expansion.FlatStep``)
    fn: Any
    bindings: tuple
    each: tuple[str, ...]  # producers this step unrolls (EACH-mode deps)
    mode: StepMode
    delivered: tuple[str, ...]  # producers whose materializer delivers the declared type
    output: Any
    consumers: list[str]
    force_materialize: bool
    max_in_flight: int
    fn_kind: str
    max_in_flight_bytes: int | None
    step_producers: list[str]  # the producers that are steps (not params or resources)
    # -- materialization and contracts -----------------------------------------------------
    reasons: tuple[str, ...] = ()
    materialize_output: bool = False
    materialized_deps: tuple[str, ...] = ()
    contracts: tuple = ()  # ConsumerContract per consumer
    output_contract: Any = None
    publish_plan: Any = None
    async_stream_deps: tuple[str, ...] = ()
    default_materializer: bool = False
    materializer: Any = None
    error_materializer: Any = None
    # -- scopes ----------------------------------------------------------------------------
    index_in_scope: int = 0
    total_in_scope: int = 0
