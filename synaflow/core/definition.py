"""Pipeline definitions: ``pipeline``, ``step`` and ``include``.

``pipeline(...)`` validates and compiles at once: if it returns, the Dag is valid
(``p.dag``). Definitions are frozen; build a new pipeline to change one.

    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     n: int
    >>> def inc(n: int) -> int:
    ...     return n + 1
    >>> p = pipeline(name="demo", params=P, steps=[step("inc", fn=inc)])
    >>> p.dag.get_execution_levels()
    [['inc']]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .steps import BaseStep, IncludeStep, PipelineFields, Step

if TYPE_CHECKING:  # pragma: no cover
    from .dag import Dag


@dataclass(frozen=True, eq=False)
class PipelineDef(PipelineFields):
    """A pipeline definition, compiled and validated when it is created.

    Raises ``PipelineDefinitionError`` (a ``ValueError``) naming the pipeline, the
    step and the parameter when the definition is wrong.
    """

    def __post_init__(self) -> None:
        from .dag_builder import build_dag

        object.__setattr__(self, "_dag", build_dag(self))

    @property
    def dag(self) -> "Dag":
        """The compiled, frozen Dag (built when the pipeline was created)."""
        return self._dag  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of the compiled Dag (same as ``self.dag.to_dict()``)."""
        return self.dag.to_dict()

    def params_type(self) -> type:
        """The params class of this pipeline."""
        return self.params


__all__ = ["BaseStep", "IncludeStep", "PipelineDef", "Step", "include", "pipeline", "step"]

pipeline = PipelineDef
step = Step
include = IncludeStep
