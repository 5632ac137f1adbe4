"""The callable a compiled node holds for a step of an included pipeline.

A leaf of ``synaflow.core`` (no imports from it): expansion makes these at build time
and ``contract_load`` again when a contract is loaded.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["ScopedStepFn", "scoped_fn"]


class ScopedStepFn:
    """The function of a step that came from an ``include()``, as 0.32.4 exposed it.

    Its ``__signature__`` names what the step depends on in the parent (keyword-only,
    in binding order): ``child__emit`` for a sibling step, ``child__adapter`` (typed as
    the sub-pipeline's params class) for params fields, a resource by its own name.
    Called with those names it passes each value on to the original parameters
    (``getattr(params, field)`` for a params field); called with the original names,
    as the runners do, it is the original function. ``__wrapped__`` is that function,
    so its hints, its kind (sync, async, generator) and its contract reference are the
    original's.
    """

    synaflow_scoped = True  # what ``signatures.qualified_ref`` looks for

    def __init__(self, fn: Callable[..., Any], bindings: tuple[Any, ...]) -> None:
        self.__wrapped__ = fn
        self._bindings = tuple(bindings)
        routes: dict[str, list[tuple[str, str | None]]] = {}
        for b in self._bindings:
            if b.producer != b.param or b.attr is not None:
                routes.setdefault(b.producer, []).append((b.param, b.attr))
        self._routes = routes
        for attr in ("__name__", "__qualname__", "__module__", "__doc__"):
            setattr(self, attr, getattr(fn, attr, None))

    @property
    def __signature__(self) -> Any:
        import inspect

        seen: dict[str, Any] = {}
        for b in self._bindings:
            seen.setdefault(b.producer, b.declared_type)
        return inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                              annotation=inspect.Parameter.empty if tp is None else tp)
            for name, tp in seen.items()])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._routes and not self._routes.keys().isdisjoint(kwargs):
            for producer in [k for k in kwargs if k in self._routes]:
                value = kwargs.pop(producer)
                for param, attr in self._routes[producer]:
                    kwargs[param] = value if attr is None else getattr(value, attr)
        return self.__wrapped__(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScopedStepFn) and other.__wrapped__ is self.__wrapped__ \
            and other._bindings == self._bindings

    def __hash__(self) -> int:
        return hash((id(self.__wrapped__), self._bindings))

    def __reduce__(self) -> tuple:
        return (ScopedStepFn, (self.__wrapped__, self._bindings))

    def __repr__(self) -> str:
        return f"<included step function {self.__qualname__}>"


def scoped_fn(fn: Callable[..., Any], bindings: tuple[Any, ...], *,
              included: bool) -> Callable[..., Any]:
    """``fn`` as the compiled node holds it: wrapped for a step of an included pipeline."""
    if not included or isinstance(fn, ScopedStepFn):
        return fn
    return ScopedStepFn(fn, bindings)
