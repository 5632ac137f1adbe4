"""What a run returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping


@dataclass(frozen=True)
class StepStats:
    """Per-step figures of one run.

    ``status``: ``ok``, ``error`` (the step recorded errors), ``skipped`` (an input
    failed under CONTINUE so it could not run) or ``not_run`` (the run ended first).
    ``items_in`` counts EACH rows (or 1 for a call), ``items_out`` items or values produced.
    """

    status: Literal["ok", "error", "skipped", "not_run"]
    items_in: int = 0
    items_out: int = 0
    errors: int = 0
    reason: str | None = None


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run.

    ``status`` is ``succeeded`` when every item was delivered and ``completed_with_errors``
    when steps failed under ``OnError.CONTINUE`` (their failures went to the error
    materializers; ``steps`` says which). Fatal errors raise instead of returning.
    ``outputs`` maps every terminal or exported step to its output.
    """

    pipeline_name: str
    run_id: str
    status: Literal["succeeded", "completed_with_errors"]
    outputs: Mapping[str, Any]
    steps: Mapping[str, StepStats]
    wall_time_s: float
    all_outputs: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def __getitem__(self, step: str) -> Any:
        return self.outputs[step]
