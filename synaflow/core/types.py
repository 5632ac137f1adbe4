"""Enums and small value types of the public API."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class StepMode(Enum):
    """Requested step mode; compiled nodes only ever hold EACH or ALL."""

    AUTO = "auto"
    EACH = "each"
    ALL = "all"


class OnError(Enum):
    """Per-step error policy."""

    CONTINUE = "continue"
    STOP = "stop"


@dataclass(frozen=True)
class StepParams:
    """Free-form per-step values carried in the definition (no run-time effect)."""

    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepResult:
    """Kept for compatibility with 0.32.4, which exported it but never produced it."""

    step_name: str
    status: str
    output: Any = None
    error: Exception | None = None
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorContext:
    """What an error materializer receives for every recorded step error."""

    pipeline_name: str
    dataset_name: str
    step_name: str
    run_id: str
    exception: BaseException
    mode: StepMode | None = None
    on_error: OnError | None = None
    success_count: int = 0
    error_count: int = 1
    completed_all_inputs: bool | None = None
    # EACH rows: the failed item's index in the step's input, and a short repr of it
    # (so an error materializer can write a dead-letter file to re-run); else None.
    item_index: int | None = None
    item: str | None = None


@dataclass
class MaterializeContext:
    """Build-time context handed to a materializer factory."""

    pipeline_name: str
    dataset_name: str
    item_type: Any
    consumer_type: Any = None
    is_async_pipeline: bool = False


@dataclass
class ErrorMaterializeContext:
    """Build-time context handed to an error materializer factory."""

    pipeline_name: str
    dataset_name: str
    is_async_pipeline: bool = False


@dataclass
class ErrorRecord:
    """One error as written by the disk error materializer."""

    pipeline_name: str
    dataset_name: str
    exception_type: str
    exception_message: str
    traceback: str
    step_name: str
    run_id: str
    # For an item of an EACH step: its index and a short repr (as in ErrorContext).
    item_index: int | None = None
    item: str | None = None
