"""Memory factory (spec 06 §2), factory detection and the callable reference convention."""
from __future__ import annotations

import asyncio
import collections
import collections.abc as cabc
import functools
import inspect
import json
import logging
import subprocess
import sys
import typing
from typing import Annotated, Any, Optional, Union

import pytest

from synaflow.core.default_materializers import (
    _identity, callable_ref, is_factory, load_ref, log_error, log_error_materializer_factory,
    memory_materializer_factory, resolve_factory)
from synaflow.core.exceptions import ContractLoadError, PipelineDefinitionError
from synaflow.core.signatures import is_async_callable
from synaflow.core.types import ErrorContext, ErrorMaterializeContext, MaterializeContext
from synaflow.materializers.errors import log_error_materializer
from synaflow.materializers.memory import memory_materializer


class Custom:
    pass


def ctx(consumer_type: Any, is_async: bool = False) -> MaterializeContext:
    return MaterializeContext("etl", "rows", typing.Iterator[int], consumer_type, is_async)


def err_ctx(exc: BaseException) -> ErrorContext:
    return ErrorContext("etl", "rows", "rows", "run-1", exc)


# -- the table of spec 06 §2 ----------------------------------------------------------
@pytest.mark.parametrize("consumer_type, expected", [
    (list, list), (list[int], list), (typing.List[int], list), (collections.deque, list),
    (cabc.MutableSequence[int], list),
    (set, set), (set[int], set), (cabc.MutableSet[int], set),
    (dict, dict), (dict[str, int], dict), (collections.OrderedDict, dict),
    (cabc.MutableMapping, dict),
    (tuple, tuple), (tuple[int, ...], tuple), (typing.Tuple[int, int], tuple),
    (int, _identity), (str, _identity), (Custom, _identity), (Any, _identity),
    (Union[int, str], _identity), (Optional[int], _identity), (int | None, _identity),
    (cabc.Iterator, list), (typing.Iterator[int], list), (cabc.Iterable[int], list),
    (typing.Iterable, list), (cabc.AsyncIterator, list), (typing.AsyncIterator[int], list),
    (cabc.AsyncIterable, list), (typing.AsyncIterable[int], list),
    (Annotated[list[int], "meta"], list),
])
def test_memory_table(consumer_type, expected):
    """Each consumer type maps to the constructor listed in the spec table."""
    assert memory_materializer_factory(ctx(consumer_type)) is expected


@pytest.mark.parametrize("consumer_type", [
    None, typing.Generator[int, None, None], cabc.Generator, cabc.AsyncGenerator,
    typing.AsyncGenerator[int, None], typing.Sequence[int], cabc.Sequence,
])
def test_memory_uninferable(consumer_type):
    """Generators, None and Sequence fail the build with the reference's key phrase."""
    with pytest.raises(PipelineDefinitionError) as info:
        memory_materializer_factory(ctx(consumer_type))
    text = str(info.value)
    assert f"Cannot infer memory materializer for consumer type: '{consumer_type}'" in text
    assert "step 'rows'" in text.lower() and "materializer=" in text
    assert "Iterator[...]" in text and "list[...]" in text
    assert isinstance(info.value, ValueError)  # `except ValueError` from 0.32.4 still works
    assert info.value.step_name == "rows"


def test_memory_none_message_is_unprefixed():
    """The message starts with the 0.32.4 phrase (no 'Pipeline ...:' prefix)."""
    with pytest.raises(ValueError, match=r"^Cannot infer memory materializer for consumer "
                                         r"type: 'None'"):
        memory_materializer_factory(ctx(None))


def test_memory_names():
    assert memory_materializer_factory.__name__ == "memory_materializer"
    assert memory_materializer() is memory_materializer_factory
    assert _identity(obj := object()) is obj


# -- async pipelines ------------------------------------------------------------------
async def _agen(items):
    for item in items:
        yield item


@pytest.mark.parametrize("consumer_type, source, expected", [
    (list[int], [3, 1], [3, 1]),
    (set[int], [1, 1, 2], {1, 2}),
    (tuple, [1, 2], (1, 2)),
    (dict, [("a", 1)], {"a": 1}),
    (typing.Iterator[int], [1], [1]),
])
def test_async_collection(consumer_type, source, expected):
    """``async_collection`` collects async or sync iterables, then applies the constructor."""
    fn = memory_materializer_factory(ctx(consumer_type, is_async=True))
    assert fn.__name__ == "async_collection"
    assert inspect.iscoroutinefunction(fn)
    assert asyncio.run(fn(_agen(source))) == expected
    assert asyncio.run(fn(iter(source))) == expected
    assert asyncio.run(fn(list(source))) == expected


def test_async_collection_scalar_passes():
    """A plain value with a scalar consumer is handed over (0.32.4 raised TypeError)."""
    fn = memory_materializer_factory(ctx(int, is_async=True))
    assert asyncio.run(fn(5)) == 5


# -- log error materializer -----------------------------------------------------------
def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_log_error_format(caplog):
    """One WARNING on logger 'synaflow' with the bracketed prefix; traceback at DEBUG."""
    exc = _raised(KeyError("boom"))
    with caplog.at_level(logging.DEBUG, logger="synaflow"):
        assert log_error(err_ctx(exc)) is None
    records = [r for r in caplog.records if r.name == "synaflow"]
    warning = [r for r in records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warning] == ["[etl] [rows] [run-1] KeyError: 'boom'"]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and "Traceback" in debug[0] and "_raised" in debug[0]


def test_log_factory_sync_and_async(caplog):
    factory = log_error_materializer()
    assert factory is log_error_materializer_factory
    assert factory.__name__ == "log_error_materializer"
    assert factory(ErrorMaterializeContext("etl", "rows")) is log_error
    async_fn = factory(ErrorMaterializeContext("etl", "rows", is_async_pipeline=True))
    assert async_fn.__name__ == "log_error" and inspect.iscoroutinefunction(async_fn)
    with caplog.at_level(logging.WARNING, logger="synaflow"):
        asyncio.run(async_fn(err_ctx(ValueError("x"))))
    assert "[etl] [rows] [run-1] ValueError: x" in caplog.text


# -- factory detection --------------------------------------------------------------
def _by_name(ctx):  # noqa: ANN001 - the name alone marks a factory
    return list


def _by_context_name(context):
    return list


def _by_annotation(c: MaterializeContext):
    return list


def _by_error_annotation(c: "ErrorMaterializeContext"):
    return log_error


def _plain(value):
    return value


@pytest.mark.parametrize("fn, expected", [
    (_by_name, True), (_by_context_name, True), (_by_annotation, True),
    (_by_error_annotation, True), (memory_materializer_factory, True),
    (log_error_materializer_factory, True),
    (_plain, False), (list, False), (dict, False), (log_error, False), (_identity, False),
])
def test_is_factory(fn, expected):
    assert is_factory(fn) is expected


def test_resolve_factory():
    """Factories are called with the context; plain callables and None pass through."""
    c = ctx(set[int])
    assert resolve_factory(memory_materializer_factory, c) is set
    assert resolve_factory(_plain, c) is _plain
    assert resolve_factory(None, c) is None


# -- references ---------------------------------------------------------------------
@pytest.mark.parametrize("obj", [list, dict, _identity, log_error, memory_materializer_factory,
                                 log_error_materializer_factory])
def test_ref_round_trip_functions(obj):
    """Module-level callables travel as their ``module:qualname`` and come back identical."""
    spec = callable_ref(obj)
    assert spec == {"ref": f"{obj.__module__}:{obj.__qualname__}"}
    assert load_ref(json.loads(json.dumps(spec))) is obj


def test_ref_round_trip_async_defaults():
    """The async defaults are module-level too, despite their shared display names."""
    for consumer in (list, set[int], int):
        fn = memory_materializer_factory(ctx(consumer, is_async=True))
        assert load_ref(callable_ref(fn)) is fn
    async_log = log_error_materializer_factory(ErrorMaterializeContext("p", "s", True))
    assert load_ref(callable_ref(async_log)) is async_log


def _make_closure():
    def inner(x):
        return x
    return inner


class _Holder:
    def method(self, x):
        return x


@pytest.mark.parametrize("obj", [
    lambda x: x, _make_closure(), functools.partial(_plain), _Holder().method, None,
])
def test_ref_none_for_unnamed(obj):
    """Lambdas, closures, partials and bound methods cannot be rebuilt from a name."""
    assert callable_ref(obj) is None


def test_ref_declared_spec():
    """``__synaflow_ref__`` describes an instance; nested refs in kwargs are loaded too."""
    class Described:
        def __synaflow_ref__(self):
            return {"ref": "builtins:dict", "kwargs": {"a": {"ref": "builtins:list"},
                                                       "b": [{"ref": "builtins:set"}, 1]}}
    assert load_ref(callable_ref(Described())) == {"a": list, "b": [set, 1]}


def test_ref_declared_none_is_none():
    class Opaque:
        def __synaflow_ref__(self):
            return None
    assert callable_ref(Opaque()) is None


def test_load_ref_string_and_errors():
    """A bare string works; missing modules/names fail as ContractLoadError with a hint."""
    assert load_ref("builtins:list") is list
    with pytest.raises(ContractLoadError, match="importable"):
        load_ref({"ref": "no_such_module_xyz:thing"})
    with pytest.raises(ContractLoadError, match="defines 'nope'"):
        load_ref({"ref": "builtins:nope"})
    with pytest.raises(ContractLoadError, match="module:qualname"):
        load_ref({"ref": "missing-colon"})
    with pytest.raises(ContractLoadError, match="kwargs"):
        load_ref({"ref": "builtins:int", "kwargs": {"bogus": 1}})


def test_core_import_is_light():
    """The build-time module imports neither asyncio, ray nor pyarrow."""
    code = ("import sys, synaflow.core.default_materializers, synaflow.materializers; "
            "print(sorted(m for m in ('asyncio', 'ray', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_async_defaults_pass_shape_check():
    """The project's shape check sees the async defaults as async, the sync ones as sync."""
    assert is_async_callable(memory_materializer_factory(ctx(list, is_async=True)))
    assert not is_async_callable(memory_materializer_factory(ctx(list)))
