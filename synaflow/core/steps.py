"""What definitions hold: the step classes and the fields of a pipeline.

The compiler (``dag_builder``, ``expansion``, ``validation``) reads these; creating a
``definition.PipelineDef`` (``pipeline(...)``) calls the compiler. Import them from
``synaflow.core.definition`` (or ``synaflow``), where the public API lives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .types import OnError, StepMode, StepParams


@dataclass(frozen=True, eq=False)
class BaseStep:
    """Common base of ``Step`` and ``IncludeStep``."""


@dataclass(frozen=True, eq=False)
class Step(BaseStep):
    """One step: ``name`` is also the dataset name other steps bind to.

    ``ray`` holds per-step Ray options (num_cpus, num_gpus, memory, resources,
    runtime_env, max_retries, retry_exceptions, scheduling_strategy, replicas,
    batch_size); it is validated at build time and ignored by the local runners.

    ``max_in_flight_bytes`` (an int, or a string such as ``"64MiB"``) bounds a stream
    producer's hand-off in bytes as well as in items (``max_in_flight``): see
    ``docs/concepts/max-in-flight.md``.
    """

    name: str
    fn: Callable[..., Any]
    on_error: OnError = OnError.CONTINUE
    mode: StepMode = StepMode.AUTO
    params: StepParams | None = None
    materializer: Callable[..., Any] | None = None
    error_materializer: Callable[..., Any] | None = None
    force_materialize: bool = False
    description: str = ""
    pipeline: str | None = None
    parent_pipeline: str | None = None
    observers: list[Any] = field(default_factory=list)
    max_in_flight: int = 1
    error_threshold_absolute: int | None = None
    error_threshold_pct: float | None = None
    ray: dict[str, Any] | None = None
    max_in_flight_bytes: int | str | None = None


@dataclass(frozen=True, eq=False)
class IncludeStep(BaseStep):
    """Embeds a sub-pipeline; ``fn`` adapts parent data to the sub-pipeline's params."""

    name: str
    fn: Callable[..., Any]
    pipeline: "PipelineFields"
    description: str = ""


@dataclass(frozen=True, eq=False)
class PipelineFields:
    """What a pipeline definition holds; ``definition.PipelineDef`` adds compiling it
    when it is created."""

    name: str
    params: Any
    steps: list[Step | IncludeStep]
    resources: dict[str, Any] = field(default_factory=dict)
    exports: str | None = None
    materializer: Callable[..., Any] | None = None
    error_materializer: Callable[..., Any] | None = None
    observers: list[Any] = field(default_factory=list)
    description: str = ""
