"""One frozen object for an executor's settings.

Every executor takes its settings as keywords (``run(p, params, stall_timeout=5)``, the
0.32.4 way) or as one ``options`` object, or both (the keywords then replace fields of
the object). Either way the executor holds a frozen copy, checked once, and builds the
run's ``RunCore``, ``StallGuard`` and progress ticker from it. A keyword no field names
is refused (``keywords.refuse_unknown``), with the closest valid one.

    >>> opts = RunnerOptions(stall_timeout=5.0)
    >>> opts.grace, opts.stall_timeout
    (0.5, 5.0)
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Mapping, TypeVar

from . import type_checks
from .core import RunCore
from .keywords import refuse_unknown
from .progress import ProgressTicker, as_dag
from .stall import StallGuard

__all__ = ["RunnerOptions"]

_O = TypeVar("_O", bound="RunnerOptions")


@dataclasses.dataclass(frozen=True)
class RunnerOptions:
    """The settings every runner takes.

    ``overrides``: per-step run-time overrides. ``resource_factories``: default to the
    Dag's own. ``stall_timeout`` (seconds, off by default) also fails runs where nothing
    progresses; a deadlock (every step waiting) is always reported after ``grace``.
    ``progress(core)`` is called about every 0.1 s while the run waits.
    ``check_types=True`` checks every value and item a step returns against its
    declared type. ``slice_spec`` runs only part of the contract (``run_slice``).
    """

    overrides: Any = None
    resource_factories: Mapping[str, Any] | None = None
    stall_timeout: float | None = None
    grace: float = 0.5
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[Any], None] | None = None
    check_types: bool | None = False
    slice_spec: Any = None

    @classmethod
    def keywords(cls) -> list[str]:
        """The keywords an executor with these options accepts, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def build(cls: type[_O], entry: str, options: Any, keywords: Mapping[str, Any]) -> _O:
        """The options of ``entry`` (``"run()"``, ``"PipelineExecutor()"``...): the
        ``options`` object given, if any, with ``keywords`` replacing its fields."""
        refuse_unknown(entry, keywords, ["options", *cls.keywords()])
        if options is None:
            return cls(**keywords)
        if not isinstance(options, cls):
            raise TypeError(f"{entry}: options must be a {cls.__name__}, found "
                            f"{type(options).__name__}; fix: pass {cls.__name__}(...) or "
                            "the settings as keywords")
        return dataclasses.replace(options, **keywords) if keywords else options

    @classmethod
    def from_call(cls: type[_O], entry: str, overrides: Any, keywords: Mapping[str, Any]
                  ) -> _O:
        """The options of ``run(dag, params, overrides, **keywords)`` and its twins:
        ``keywords`` may hold an ``options`` object; ``overrides``, when given, wins."""
        keywords = dict(keywords)
        given = keywords.pop("options", None)
        if overrides is not None:
            keywords["overrides"] = overrides
        return cls.build(entry, given, keywords)

    def settings(self) -> dict[str, Any]:
        """The fields, as keywords."""
        return {name: getattr(self, name) for name in self.keywords()}

    def checks_types_by_default(self) -> bool:
        """Whether values are checked when ``check_types`` is None (the runner's default)."""
        return False

    def dag_to_run(self, pipeline_or_dag: Any) -> Any:
        """The Dag of a pipeline (or the Dag given), its values checked against their
        declared types when ``check_types`` asks for it."""
        dag = as_dag(pipeline_or_dag)
        if type_checks.resolve(self.check_types, default=self.checks_types_by_default()):
            return type_checks.checked_dag(dag)
        return dag

    def core(self, dag: Any, params: Any, core_class: type[RunCore] = RunCore,
             **extra: Any) -> RunCore:
        """The ``RunCore`` of one run of ``dag`` with these settings."""
        return core_class(dag, params, self.overrides, clock=self.clock,
                          resource_factories=self.resource_factories,
                          slice_spec=self.slice_spec, **extra)

    def guard(self) -> StallGuard:
        """The stall guard of one run."""
        return StallGuard(clock=self.clock, grace=self.grace, stall_timeout=self.stall_timeout)

    def ticker(self, core: RunCore) -> ProgressTicker:
        """Calls ``progress(core)`` from the run's wait loop."""
        return ProgressTicker(core, self.progress)
