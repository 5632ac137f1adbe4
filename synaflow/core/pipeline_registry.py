"""``PipelineRegistry``: a read-only mapping of named pipelines and their Dags."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .dag import Dag
from .definition import IncludeStep, PipelineDef


class PipelineRegistry(Mapping[str, PipelineDef]):
    """Pipelines by name; ``add`` registers a pipeline and every pipeline it includes.

        >>> reg = PipelineRegistry()
        >>> len(reg)
        0
    """

    def __init__(self) -> None:
        self._pipelines: dict[str, PipelineDef] = {}

    def __getitem__(self, name: str) -> PipelineDef:
        return self._pipelines[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pipelines)

    def __len__(self) -> int:
        return len(self._pipelines)

    def add(self, pipeline: PipelineDef) -> None:
        """Register ``pipeline`` and its included pipelines, all or nothing."""
        if not isinstance(pipeline, PipelineDef):
            raise TypeError(f"expected PipelineDef, got {type(pipeline).__name__}")
        found: dict[str, PipelineDef] = {}
        _collect(pipeline, found, path=())
        for name, p in found.items():
            current = self._pipelines.get(name)
            if current is not None and current is not p:
                raise ValueError(f"Pipeline '{name}' is already registered with a different "
                                 "instance; give one of them another name")
        for name, p in found.items():
            self._pipelines.setdefault(name, p)

    def get_dag(self, name: str) -> Dag:
        """The compiled Dag of a registered pipeline (the same object every time)."""
        if name not in self._pipelines:
            known = ", ".join(sorted(self._pipelines)) or "<none>"
            raise KeyError(f"pipeline '{name}' not registered. Available: {known}")
        return self._pipelines[name].dag

    @classmethod
    def from_module(cls, module_name: str, *, attr: str = "catalog") -> "PipelineRegistry":
        """The registry stored as ``attr`` in an importable module."""
        module = importlib.import_module(module_name)
        registry = getattr(module, attr)
        if not isinstance(registry, PipelineRegistry):
            raise TypeError(f"{module_name}.{attr} must be a PipelineRegistry, got "
                            f"{type(registry).__name__}")
        return registry


def _collect(p: PipelineDef, found: dict[str, PipelineDef], path: tuple[int, ...]) -> None:
    if id(p) in path:
        raise ValueError(f"Pipeline include cycle detected at '{p.name}'")
    existing = found.get(p.name)
    if existing is not None and existing is not p:
        raise ValueError(f"Pipeline name '{p.name}' refers to multiple instances")
    found[p.name] = p
    for entry in p.steps:
        if isinstance(entry, IncludeStep):
            _collect(entry.pipeline, found, path + (id(p),))
