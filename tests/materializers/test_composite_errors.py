"""Disk error materializer and composite (error) materializers (spec 06 §4)."""
from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading

import pytest

from synaflow.core.default_materializers import (_identity, callable_ref, is_factory, load_ref,
                                                 log_error, memory_materializer_factory)
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.core.signatures import is_async_callable
from synaflow.core.types import (ErrorContext, ErrorMaterializeContext, ErrorRecord,
                                 MaterializeContext)
from synaflow.materializers.composite import (composite_error_materializer,
                                              composite_materializer)
from synaflow.materializers.disk import disk_materializer
from synaflow.materializers.errors import (AsyncErrorAppender, ErrorAppender,
                                           disk_error_materializer, log_error_materializer)
from synaflow.materializers.memory import memory_materializer
from synaflow.serializers import (CsvSerializer, JsonSerializer, csv_serializer,
                                  json_serializer, jsonl_serializer, pickle_serializer,
                                  text_serializer)

# 0.32.4's seven fields in its order, then the failed item (issue 24, items 5 and 7)
FIELDS = ["pipeline_name", "dataset_name", "exception_type", "exception_message",
          "traceback", "step_name", "run_id", "item_index", "item"]


def ectx(step: str = "rows", is_async: bool = False) -> ErrorMaterializeContext:
    return ErrorMaterializeContext("etl", step, is_async)


def mctx(consumer_type=list, is_async: bool = False) -> MaterializeContext:
    return MaterializeContext("etl", "rows", list, consumer_type, is_async)


def failing_call():
    raise ValueError("bad row 7")


def error(exc: BaseException | None = None, run_id: str = "run-1") -> ErrorContext:
    if exc is None:
        try:
            failing_call()
        except ValueError as caught:
            exc = caught
    return ErrorContext("etl", "rows", "rows", run_id, exc)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- disk error materializer --------------------------------------------------------
def test_appender_names(tmp_path):
    factory = disk_error_materializer(tmp_path, jsonl_serializer)
    assert factory.__name__ == "factory" and is_factory(factory)
    appender = factory(ectx())
    assert isinstance(appender, ErrorAppender) and appender.__name__ == "append_error_to_disk"
    assert not is_factory(appender) and not is_async_callable(appender)


def test_jsonl_records_appended(tmp_path):
    """One line per error, fields in ErrorRecord order, appended across calls/runs."""
    appender = disk_error_materializer(tmp_path / "errs", jsonl_serializer)(ectx())
    appender(error())
    appender(error(KeyError("k"), run_id="run-2"))
    records = read_jsonl(tmp_path / "errs" / "rows.jsonl")
    assert [list(r) for r in records] == [FIELDS, FIELDS]
    first, second = records
    assert first["exception_type"] == "ValueError"
    assert first["exception_message"] == "bad row 7"
    assert (first["pipeline_name"], first["dataset_name"], first["step_name"],
            first["run_id"]) == ("etl", "rows", "rows", "run-1")
    assert (second["exception_type"], second["exception_message"], second["run_id"]) == \
        ("KeyError", "'k'", "run-2")


def test_traceback_is_the_exceptions_own(tmp_path):
    """The record holds the raised exception's traceback even outside the except block."""
    appender = disk_error_materializer(tmp_path, jsonl_serializer)(ectx())
    appender(error())
    appender(error(RuntimeError("never raised")))
    raised, unraised = read_jsonl(tmp_path / "rows.jsonl")
    assert raised["traceback"].startswith("Traceback (most recent call last)")
    assert "failing_call" in raised["traceback"]
    assert raised["traceback"].rstrip().endswith("ValueError: bad row 7")
    assert unraised["traceback"] == "RuntimeError: never raised\n"


def test_pickle_records(tmp_path):
    appender = disk_error_materializer(tmp_path, pickle_serializer)(ectx())
    appender(error())
    appender(error(KeyError("k")))
    with open(tmp_path / "rows.pkl", "rb") as file:
        first, second = pickle.load(file), pickle.load(file)
    assert isinstance(first, ErrorRecord) and first.exception_type == "ValueError"
    assert second.exception_type == "KeyError"


def test_text_records_and_file_name(tmp_path):
    """Text appends ``str(record)``; an explicit file_name is shared by every step."""
    factory = disk_error_materializer(tmp_path, text_serializer, file_name="all.log")
    factory(ectx("a"))(error())
    factory(ectx("b"))(error())
    content = (tmp_path / "all.log").read_text()
    assert content.count("ErrorRecord(") == 2 and "bad row 7" in content


@pytest.mark.parametrize("serializer, name", [
    (json_serializer, "JsonSerializer"), (csv_serializer, "CsvSerializer"),
    (JsonSerializer(), "JsonSerializer"), (CsvSerializer(fieldnames=["a"]), "CsvSerializer"),
])
def test_refuses_whole_document(tmp_path, serializer, name):
    """JSON/CSV are refused immediately, saying why and what to use instead."""
    with pytest.raises(ValueError) as info:
        disk_error_materializer(tmp_path, serializer)
    text = str(info.value)
    assert text.startswith(f"disk_error_materializer does not support '{name}'")
    assert "append-safe" in text and "jsonl_serializer" in text
    assert isinstance(info.value, PipelineDefinitionError)


def test_error_file_name_escape(tmp_path):
    with pytest.raises(PipelineDefinitionError, match="step 'load'.*'../e.jsonl'"):
        disk_error_materializer(tmp_path, jsonl_serializer, "../e.jsonl")(ectx("load"))


def test_concurrent_appends_stay_whole(tmp_path):
    """Errors recorded from many threads never interleave inside a line."""
    appender = disk_error_materializer(tmp_path, jsonl_serializer)(ectx())
    big = ValueError("x" * 20000)

    def record_many():
        for _ in range(20):
            appender(error(big))

    threads = [threading.Thread(target=record_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_jsonl(tmp_path / "rows.jsonl")
    assert len(records) == 160
    assert all(r["exception_message"] == "x" * 20000 for r in records)


def test_failing_serializer_appends_nothing(tmp_path):
    """A record that fails to serialize leaves the file as it was."""
    appender = disk_error_materializer(tmp_path, jsonl_serializer)(ectx())
    appender(error())
    before = (tmp_path / "rows.jsonl").read_bytes()

    class HalfWriter:
        extension = "jsonl"

        def serialize(self, file, data):
            file.write('{"half": ')
            raise RuntimeError("boom")

    broken = disk_error_materializer(tmp_path, HalfWriter())(ectx())
    with pytest.raises(RuntimeError):
        broken(error())
    assert (tmp_path / "rows.jsonl").read_bytes() == before


def test_async_appender(tmp_path):
    appender = disk_error_materializer(tmp_path, jsonl_serializer)(ectx(is_async=True))
    assert isinstance(appender, AsyncErrorAppender) and is_async_callable(appender)
    assert appender.__name__ == "append_error_to_disk"
    asyncio.run(appender(error()))
    assert read_jsonl(tmp_path / "rows.jsonl")[0]["exception_type"] == "ValueError"


def test_appender_ref_round_trip(tmp_path):
    appender = disk_error_materializer(tmp_path, jsonl_serializer)(ectx())
    rebuilt = load_ref(json.loads(json.dumps(callable_ref(appender))))
    assert rebuilt == appender and rebuilt.serializer is jsonl_serializer
    rebuilt(error())
    assert len(read_jsonl(tmp_path / "rows.jsonl")) == 1


# -- composite materializer ---------------------------------------------------------
def test_composite_same_input_to_every_stage():
    """Stages are not chained: each sees the same (listed) input."""
    seen = []

    def first(value):
        seen.append(("first", value))
        return [x * 10 for x in value]

    def second(value):
        seen.append(("second", value))
        return sum(value)

    run = composite_materializer(first, second)(mctx())
    assert run.__name__ == "run_composite_materializers_sync"
    assert run(iter([1, 2])) == 3
    assert seen == [("first", [1, 2]), ("second", [1, 2])]


def test_composite_none_result_returns_input():
    """If the last stage returns None the (listed) input is returned, not an earlier result."""
    run = composite_materializer(set, None, lambda value: None)(mctx())
    assert run(iter([1, 1, 2])) == [1, 1, 2]
    assert composite_materializer()(mctx())(iter([5])) == [5]


def test_composite_resolves_factories(tmp_path):
    """Factories among the stages are called with the same context."""
    factory = composite_materializer(disk_materializer(tmp_path, jsonl_serializer),
                                     memory_materializer())
    assert factory.__name__ == "factory" and is_factory(factory)
    run = factory(mctx(set[int]))
    assert run([1, 1, 2]) == {1, 2}
    assert (tmp_path / "rows.jsonl").read_text() == "1\n1\n2\n"


async def _agen(items):
    for item in items:
        yield item


def test_composite_async(tmp_path):
    """Async variant: the stream is collected once; async stages get a fresh async iterator."""
    seen = []

    async def async_stage(stream):
        seen.append([x async for x in stream])
        return "async result"

    def sync_stage(value):
        seen.append(value)

    factory = composite_materializer(async_stage, sync_stage,
                                     disk_materializer(tmp_path, text_serializer),
                                     memory_materializer())
    run = factory(mctx(tuple, is_async=True))
    assert run.__name__ == "run_composite_materializers_async" and is_async_callable(run)
    assert asyncio.run(run(_agen([1, 2]))) == (1, 2)
    assert seen == [[1, 2], [1, 2]]
    assert (tmp_path / "rows.txt").read_text() == "1\n2\n"


def test_composite_async_in_async_pipeline():
    """An async pipeline gets the awaitable runner even if every stage is sync."""
    run = composite_materializer(list)(mctx(is_async=True))
    assert run.__name__ == "run_composite_materializers_async"
    assert asyncio.run(run(_agen([3]))) == [3]


def test_composite_async_if_any_stage_async():
    async def stage(value):
        return value
    run = composite_materializer(stage)(mctx())
    assert run.__name__ == "run_composite_materializers_async"


def test_composite_ref_round_trip(tmp_path):
    factory = composite_materializer(list, disk_materializer(tmp_path, jsonl_serializer))
    run = factory(mctx())
    assert load_ref(json.loads(json.dumps(callable_ref(run)))) == run
    assert load_ref(json.loads(json.dumps(callable_ref(factory)))) == factory
    assert callable_ref(composite_materializer(lambda v: v)(mctx())) is None


# -- composite error materializer -----------------------------------------------------
def test_composite_errors_call_every_stage(tmp_path, caplog):
    """Every stage gets the same ErrorContext, in order; factories are resolved."""
    seen = []
    factory = composite_error_materializer(
        log_error_materializer(), None, seen.append,
        disk_error_materializer(tmp_path, jsonl_serializer))
    assert factory.__name__ == "factory"
    run = factory(ectx())
    assert run.__name__ == "run_composite_error_materializers_sync"
    err = error()
    with caplog.at_level(logging.WARNING, logger="synaflow"):
        assert run(err) is None
    assert seen == [err]
    assert "[etl] [rows] [run-1] ValueError: bad row 7" in caplog.text
    assert len(read_jsonl(tmp_path / "rows.jsonl")) == 1


def test_composite_errors_async(tmp_path):
    seen = []

    async def async_stage(err):
        seen.append(("async", err.run_id))

    run = composite_error_materializer(async_stage, lambda err: seen.append(("sync", err.run_id)),
                                       disk_error_materializer(tmp_path, jsonl_serializer),
                                       log_error_materializer())(ectx(is_async=True))
    assert run.__name__ == "run_composite_error_materializers_async"
    assert is_async_callable(run)
    asyncio.run(run(error()))
    assert seen == [("async", "run-1"), ("sync", "run-1")]
    assert len(read_jsonl(tmp_path / "rows.jsonl")) == 1


def test_composite_errors_ref_round_trip(tmp_path):
    run = composite_error_materializer(log_error, disk_error_materializer(
        tmp_path, pickle_serializer))(ectx())
    assert load_ref(json.loads(json.dumps(callable_ref(run)))) == run


def test_package_reexports():
    """``synaflow.materializers`` exposes the six functions lazily."""
    import synaflow.materializers as pkg
    assert pkg.memory_materializer is memory_materializer
    assert pkg.composite_materializer is composite_materializer
    assert pkg.memory_materializer() is memory_materializer_factory
    assert _identity(3) == 3
    with pytest.raises(AttributeError):
        pkg.nope  # noqa: B018
