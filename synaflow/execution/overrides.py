"""Run-time swaps keyed by compiled step names, ``PIPELINE_SCOPE`` or resource names.

Overrides never change topology, modes or the materialization plan: they only
replace the callables a run uses. Constructors take the pipeline or its Dag and
never recompile it (0.32.4 recompiled it once per registry).

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def db() -> dict:
    ...     return {}
    >>> def use(n: int, db: dict) -> int:
    ...     return n
    >>> p = pipeline(name="o", params=P, resources={"db": db}, steps=[step("use", fn=use)])
    >>> ov = ExecutionOverrides.from_production(p)
    >>> ov.resources["db"] = {"fake": True}
"""
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from ..core.constants import PIPELINE_SCOPE
from ..core.observers import Observer, ResolvedObserver


def _as_dag(pipeline_or_dag: Any) -> Any:
    return getattr(pipeline_or_dag, "dag", pipeline_or_dag)


class _Registry(MutableMapping[str, Any]):
    """Overrides over a fixed set of contract keys, with fallbacks."""

    kind = "override"

    def __init__(self, *, contract_keys: set[str], fallback_values: dict[str, Any] | None = None):
        self._keys = frozenset(contract_keys)
        self._fallback = dict(fallback_values or {})
        self._overrides: dict[str, Any] = {}

    def _key(self, key: Any) -> str:
        key = str(key)
        if key not in self._keys:
            valid = ", ".join(sorted(self._keys)) or "<none>"
            raise KeyError(f"Unknown override key '{key}'. Valid keys: {valid}.")
        return key

    def __getitem__(self, key: Any) -> Any:
        key = self._key(key)
        if key in self._overrides:
            return self._overrides[key]
        if key in self._fallback:
            return self._fallback[key]
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._overrides[self._key(key)] = self._check(self._key(key), value)

    def __delitem__(self, key: Any) -> None:
        del self._overrides[self._key(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def _check(self, key: str, value: Any) -> Any:
        return value

    def resolve(self, key: Any, default: Any = None) -> Any:
        """Override, else fallback, else ``default`` (no key validation)."""
        key = str(key)
        if key in self._overrides:
            return self._overrides[key]
        return self._fallback.get(key, default)

    def is_overridden(self, key: Any) -> bool:
        return str(key) in self._overrides


class MaterializerRegistry(_Registry):
    def _check(self, key: str, value: Any) -> Any:
        if not callable(value):
            none = " cannot be None: it" if value is None else ""
            raise TypeError(f"materializer override for '{key}'{none} must be callable, got "
                            f"{type(value).__name__}")
        return value

    @classmethod
    def from_production(cls, pipeline: Any) -> "MaterializerRegistry":
        dag = _as_dag(pipeline)
        found = {n: node.materializer for n, node in dag.steps.items()
                 if node.materializer is not None}
        return cls(contract_keys=set(found), fallback_values=found)


class ObserverRegistry(_Registry):
    def _check(self, key: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError(f"observer override for '{key}' must be a list of observers, got "
                            f"{type(value).__name__}")
        source = "pipeline" if key == PIPELINE_SCOPE else "step"
        out = []
        for entry in value:
            if isinstance(entry, ResolvedObserver):
                out.append(entry)
            elif isinstance(entry, Observer) or callable(entry):
                out.append(ResolvedObserver(getattr(entry, "handler", entry), source))
            else:
                raise TypeError(f"observer override for '{key}' must contain only callables "
                                f"or Observer registrations, got the entry {entry!r}")
        return out

    @classmethod
    def _keys_of(cls, dag: Any) -> set[str]:
        # PIPELINE_SCOPE is always valid (0.32.4 only accepted it when the pipeline
        # declared pipeline-level observers, which made the documented example fail).
        return {PIPELINE_SCOPE, *dag.steps}

    @classmethod
    def from_production(cls, pipeline: Any) -> "ObserverRegistry":
        dag = _as_dag(pipeline)
        fallback: dict[str, Any] = {PIPELINE_SCOPE: list(dag.pipeline_observers)}
        for name, node in dag.steps.items():
            fallback[name] = [o for o in node.observers if o.source != "pipeline"]
        return cls(contract_keys=cls._keys_of(dag), fallback_values=fallback)

    @classmethod
    def silenced(cls, pipeline: Any) -> "ObserverRegistry":
        dag = _as_dag(pipeline)
        keys = cls._keys_of(dag)
        return cls(contract_keys=keys, fallback_values={k: [] for k in keys})


class ResourceRegistry(_Registry):
    def _check(self, key: str, value: Any) -> Any:
        if value is None:
            raise TypeError(f"resource override for '{key}' cannot be None: set a factory "
                            "or an object, or delete the key to use the production factory")
        return value

    @classmethod
    def from_production(cls, pipeline: Any) -> "ResourceRegistry":
        dag = _as_dag(pipeline)
        return cls(contract_keys=set(dag.resource_factories),
                   fallback_values=dict(dag.resource_factories))

    empty = from_production


@dataclass(frozen=True)
class ExecutionOverrides:
    """Materializer, observer and resource swaps for one run (tests, dry runs)."""

    materializers: MaterializerRegistry
    observers: ObserverRegistry
    resources: ResourceRegistry

    @classmethod
    def from_production(cls, pipeline: Any) -> "ExecutionOverrides":
        """Everything as compiled; set entries to swap them."""
        return cls(MaterializerRegistry.from_production(pipeline),
                   ObserverRegistry.from_production(pipeline),
                   ResourceRegistry.from_production(pipeline))

    @classmethod
    def empty(cls, pipeline: Any) -> "ExecutionOverrides":
        """Observers silenced; materializers and resources as compiled unless overridden."""
        return cls(MaterializerRegistry.from_production(pipeline),
                   ObserverRegistry.silenced(pipeline),
                   ResourceRegistry.from_production(pipeline))

    without_observers = empty
