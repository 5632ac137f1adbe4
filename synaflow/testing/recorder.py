"""Observers and error materializers that record what a run reported.

They run in the driver process for every runner (observers and error materializers
are local callables), so one module-level recorder sees all of it.
"""
from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
events: list[tuple[str, str | None, tuple]] = []
errors: list[tuple[str, str, int, int]] = []
notes: list[Any] = []


def reset() -> None:
    with _lock:
        events.clear()
        errors.clear()
        notes.clear()


def observe(ctx: Any) -> None:
    """Observer: records (event, step, counts) for every event it sees."""
    counts = tuple(getattr(ctx, k) for k in ("success_count", "error_count")
                   if hasattr(ctx, k))
    with _lock:
        events.append((ctx.event.value, getattr(ctx, "step_name", None), counts))


def record_error(err: Any) -> None:
    """Error materializer: records (step, exception type, success and error counts)."""
    with _lock:
        errors.append((err.step_name, type(err.exception).__name__, err.success_count,
                       err.error_count))


def note(value: Any) -> None:
    """Steps call this for side effects the case checks (sync runners only see them
    in-process; cases that need it are marked ``local_only``)."""
    with _lock:
        notes.append(value)


def normalised_events() -> dict[str, Any]:
    """Per-step event sequences (cross-step interleaving legitimately differs)."""
    with _lock:
        snapshot = list(events)
    per_step: dict[str, list] = {}
    pipeline = [e for e, step, _ in snapshot if e.startswith("pipeline_")]
    for event, step, counts in snapshot:
        if step is not None and not event.startswith("pipeline_"):
            per_step.setdefault(step, []).append((event, counts))
    return {"pipeline": pipeline, "steps": dict(sorted(per_step.items()))}


def error_summary() -> list[tuple]:
    with _lock:
        return sorted(errors)
