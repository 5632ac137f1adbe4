"""How long a Ray run holds its values in the object store.

The run holds a stored value (a ``Remote``, or the slices of a kept terminal stream)
through ``RunCore.values`` and through the stages of its readers. ``Lifetimes``
drops both holds as soon as nobody will read the value again:

- a reader's stage is over: it is replaced by ``OVER`` (its call plan, spec and
  sources go with it; calls still running keep their own arguments alive in Ray);
- every reader of a producer is over (or skipped) and its value is not one of the
  run's outputs: the producer's entries leave ``RunCore.values``;
- the run is over: outputs are read back into the driver (``RunResult.outputs``),
  everything else that is stored is dropped.

Ray frees an object once no ref to it is left, so after a run nothing of it stays
pinned, however long the ``RunResult`` lives.
"""
from __future__ import annotations

from typing import Any

from .outputs import Resolved
from .refs import Remote
from .stages import TerminalItems


class _Over:
    """What stands in ``_RayRun.stages`` for a stage whose step is over."""

    done = True

    def pump(self) -> bool:
        return False

    def abort(self) -> None:
        """Nothing left to stop."""

    def upstream_failed(self, exc: BaseException) -> None:
        """Nothing left to tell."""

    def blocked(self) -> str:
        return "over"


OVER = _Over()


def stored(value: Any) -> bool:
    """Does ``value`` hold something in the object store?"""
    return isinstance(value, (Remote, TerminalItems))


class Lifetimes:
    """Releases one run's stored values (see the module docstring).

    Mutable: ``released``, the ``RunCore.values`` keys dropped so far.
    """

    def __init__(self, run: Any) -> None:
        self.run = run
        self.core = run.core
        self.released: set[str] = set()

    def step_over(self, name: str) -> None:
        """The driver's work for step ``name`` is over (``RunCore.step_finished``)."""
        self.run.stages[name] = OVER
        dag = self.core.dag
        for producer in dict.fromkeys(dag.steps[name].deps):
            if producer in dag.steps and self._unread(producer):
                self._drop(producer)

    def _unread(self, producer: str) -> bool:
        core = self.core
        return producer not in core.outputs and all(
            c in core.finished or c in core.skipped
            for c in core.dag.steps[producer].consumers)

    def _drop(self, producer: str) -> None:
        dag, values = self.core.dag, self.core.values
        keys = {producer, *(dag.output_key(producer, c) for c in dag.steps[producer].consumers)}
        for key in keys:
            value = values.get(key)
            if stored(value):
                del values[key]
                self.released.add(key)
                if isinstance(value, Remote):
                    self.run.value_info.pop(id(value.ref), None)

    def run_over(self, outputs: dict[str, Any] | None = None) -> Resolved:
        """Drop every stored value; ``outputs`` (already read back) replace their
        entries. Returns what ``all_outputs`` shows."""
        values = self.core.values
        for key, value in list(values.items()):
            if outputs is not None and key in outputs:
                values[key] = outputs[key]
            elif stored(value):
                del values[key]
                self.released.add(key)
        self.run.value_info.clear()
        return Resolved(values, released=self.released)
