"""Arguments every runner takes the same way: the pipeline (or its Dag) and the
``progress`` callback (moved here from the sync runner, which the others used to
import them from)."""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["as_dag", "ProgressTicker", "PROGRESS_EVERY"]

PROGRESS_EVERY = 0.1  # seconds between two progress(core) calls


def as_dag(pipeline_or_dag: Any) -> Any:
    """Accept a ``pipeline(...)`` object or its compiled Dag."""
    dag = getattr(pipeline_or_dag, "dag", pipeline_or_dag)
    if not hasattr(dag, "steps") or not hasattr(dag, "get_execution_levels"):
        raise TypeError(f"expected a pipeline(...) object or a compiled Dag, got "
                        f"{type(pipeline_or_dag).__name__}")
    return dag


class ProgressTicker:
    """Calls ``progress(core)`` from a runner's wait loop, at most every 0.1 s."""

    def __init__(self, core: Any, progress: Callable[[Any], None] | None) -> None:
        self.core = core
        self.progress = progress
        self.due = core.clock()

    def __call__(self) -> None:
        if self.progress is not None and self.core.clock() >= self.due:
            self.due = self.core.clock() + PROGRESS_EVERY
            self.progress(self.core)
