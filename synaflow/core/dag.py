"""The compiled, frozen Dag: the contract every runner executes.

``Dag`` and ``DagNode`` are produced by ``build_dag`` (called by ``pipeline(...)``)
and never change afterwards. ``Dag.to_dict()`` exports the JSON contract,
``Dag.from_dict()`` loads it back in any process where the functions import.

    >>> from typing import NamedTuple
    >>> from synaflow import pipeline, step
    >>> class P(NamedTuple):
    ...     n: int
    >>> def a(n: int) -> int:
    ...     return n
    >>> def b(a: int) -> int:
    ...     return a
    >>> dag = pipeline(name="x", params=P, steps=[step("a", fn=a), step("b", fn=b)]).dag
    >>> dag.get_execution_levels()
    [['a'], ['b']]
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal

from .callables import fn_kind as callable_kind
from .frozen import EMPTY, FrozenDict, FrozenList, freeze_sequences
from .records import Binding, ConsumerContract, OutputContract, PublishPlan
from .types import OnError, StepMode

if typing.TYPE_CHECKING:  # pragma: no cover
    from .observers import ResolvedObserver


@dataclass(frozen=True, slots=True)
class DagNode:
    """One compiled step. Every run-time decision is already taken here."""

    name: str = ""
    fn: Callable[..., Any] | None = None
    deps: FrozenDict = EMPTY
    output: Any = None
    on_error: OnError = OnError.CONTINUE
    mode: StepMode = StepMode.ALL
    each_mode_deps: tuple[str, ...] = ()
    dataset_param_names: FrozenDict = EMPTY
    bindings: tuple[Binding, ...] = ()
    materializer: Callable[..., Any] | None = None
    error_materializer: Callable[..., Any] | None = None
    materialize_output: bool = False
    materialize_reasons: tuple[str, ...] = ()
    materialized_deps: tuple[str, ...] = ()
    default_materializer: bool = False
    force_materialize: bool = False
    pipeline: str = ""
    parent_pipeline: str | None = None
    observers: tuple["ResolvedObserver", ...] = ()
    max_in_flight: int = 1
    error_threshold_absolute: int | None = None
    error_threshold_pct: float | None = None
    output_contract: OutputContract | None = None
    consumer_contracts: tuple[ConsumerContract, ...] = ()
    publish_plan: PublishPlan | None = None
    # None: not given (a node built by hand) -> taken from ``fn`` in __post_init__
    fn_kind: Literal["sync", "sync_generator", "async", "async_generator"] | None = None
    async_stream_deps: tuple[str, ...] = ()
    pipeline_scope: str = ""
    step_index_in_scope: int = 0
    step_total_in_scope: int = 0
    consumers: tuple[str, ...] = ()
    is_adapter: bool = False
    exported: bool = False
    ray_options: FrozenDict = EMPTY
    description: str = ""
    max_in_flight_bytes: int | None = None

    def __post_init__(self) -> None:
        freeze_sequences(self)
        if self.fn_kind is None:
            object.__setattr__(self, "fn_kind", "sync" if self.fn is None
                               else callable_kind(self.fn))
        if not self.bindings and self.deps:
            # A node built by hand (0.32.4's public DagNode) names its inputs in ``deps``
            # only: each parameter reads the producer of its name, or the name
            # ``dataset_param_names`` maps that producer to.
            renamed = self.dataset_param_names or {}
            object.__setattr__(self, "bindings", FrozenList(
                Binding(renamed.get(p, p), p, tp) for p, tp in self.deps.items()))

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    @property
    def _materialized_deps(self) -> tuple[str, ...]:
        return self.materialized_deps

    @property
    def _materialize_reasons(self) -> tuple[str, ...]:
        return self.materialize_reasons

    @property
    def is_stream(self) -> bool:
        """True when the output is a stream at run time (generator or EACH)."""
        return self.output_contract is not None and self.output_contract.runtime_kind != "value"

    def shape_for(self, consumer: str) -> str:
        """The shape this producer's materialized output takes for ``consumer``."""
        for contract in self.consumer_contracts:
            if contract.consumer_name == consumer:
                return contract.shape
        return "as_is"


def _frozen_dag_error(*_: Any) -> typing.NoReturn:
    raise TypeError("a compiled Dag is frozen; build a new pipeline to change it")


@dataclass(frozen=True, slots=True)
class Dag:
    """The compiled pipeline. ``dag[name]``, ``name in dag``, ``len``, ``iter`` act on steps."""

    name: str
    params: FrozenDict
    steps: FrozenDict
    resource_factories: FrozenDict = EMPTY
    # resource -> {factory parameter: params field} (``resource_wiring.py``)
    resource_params: FrozenDict = EMPTY
    requires_sync_runner: bool = False
    requires_async_runner: bool = False
    error_materializer_factory: Callable[..., Any] | None = None
    pipeline_observers: tuple["ResolvedObserver", ...] = ()
    scope_step_totals: FrozenDict = EMPTY
    params_type: Any = None
    resource_types: FrozenDict = EMPTY
    exports: str | None = None
    description: str = ""
    flat: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        freeze_sequences(self, skip=("flat",))
        for name in ("params", "steps", "resource_factories", "scope_step_totals",
                     "resource_types", "resource_params"):
            value = getattr(self, name)
            if type(value) is dict:  # a Dag built by hand with plain dicts
                object.__setattr__(self, name, FrozenDict(value))
        if not self.requires_async_runner and any(
                n.fn_kind.startswith("async") for n in self.steps.values()):
            object.__setattr__(self, "requires_async_runner", True)  # built by hand
        unnamed = [k for k, node in self.steps.items() if not node.name]
        if unnamed:
            from dataclasses import replace

            object.__setattr__(self, "steps", FrozenDict(
                (k, replace(node, name=k) if k in unnamed else node)
                for k, node in self.steps.items()))

    # -- mapping behaviour over steps -------------------------------------------------
    def __getitem__(self, name: str) -> DagNode:
        return self.steps[name]

    def __contains__(self, name: object) -> bool:
        return name in self.steps

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[str]:
        return iter(self.steps)

    def items(self):
        return self.steps.items()

    def values(self):
        return self.steps.values()

    def keys(self):
        return self.steps.keys()

    __setitem__ = _frozen_dag_error
    pop = _frozen_dag_error

    def get(self, key: str, default: Any = None) -> Any:
        """The step node, or a synthetic node describing a params field or resource."""
        if key in self.steps:
            return self.steps[key]
        if key in self.params:
            return DagNode(name=key, output=self.params[key])
        if key in self.resource_types:
            return DagNode(name=key, output=self.resource_types[key])
        return default

    # -- topology ----------------------------------------------------------------------
    def consumers_of(self, name: str) -> list[str]:
        """Steps that depend on ``name``, in declaration order."""
        node = self.steps.get(name)
        if node is not None:
            return list(node.consumers)
        return [s for s, n in self.steps.items() if name in n.deps]

    def output_key(self, producer: str, consumer: str) -> str:
        """Run-time state key: the producer, or ``producer__consumer`` with several consumers."""
        return producer if len(self.consumers_of(producer)) <= 1 else f"{producer}__{consumer}"

    def is_hidden_step(self, name: str) -> bool:
        return name.startswith("_")

    def is_terminal_step(self, name: str) -> bool:
        return self.is_hidden_step(name) or not self.consumers_of(name)

    def each_inputs(self, name: str) -> list[str]:
        return list(self.steps[name].each_mode_deps)

    def needs_materialize(self, name: str) -> bool:
        return self.steps[name].materialize_output

    def should_drain_deferred_step(self, name: str) -> bool:
        node = self.steps[name]
        return node.output_contract is not None and node.output_contract.drain_policy != "none"

    def step_dependencies(self, name: str) -> list[str]:
        """Producers of ``name`` that are steps (not params fields or resources)."""
        return [d for d in self.steps[name].deps if d in self.steps]

    def get_execution_levels(self) -> list[list[str]]:
        """Kahn layering over step-to-step edges; declaration order inside a level."""
        from .topology import execution_levels

        return execution_levels(self.steps, self.step_dependencies)

    # -- the JSON contract -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The deterministic JSON contract (see ``synaflow schema``)."""
        from .contract import dag_to_dict

        return dag_to_dict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | str) -> "Dag":
        """Rebuild a Dag from its contract; functions are imported by ``module:qualname``."""
        from .contract_load import dag_from_dict

        return dag_from_dict(data)


def get_safe_type_hints(obj: Any) -> dict[str, Any]:
    """``typing.get_type_hints`` that returns ``{}`` instead of raising."""
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:
        return {}


def resolve_resource_output_type(factory: Callable[..., Any]) -> Any:
    """The type a resource factory provides (its return annotation)."""
    from .signatures import resource_type

    return resource_type(factory)
