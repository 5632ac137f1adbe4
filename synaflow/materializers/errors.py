"""Error materializers: log every recorded step error, or append it to a file.

    >>> from synaflow.materializers.errors import disk_error_materializer
    >>> from synaflow.serializers import jsonl_serializer
    >>> from synaflow.core.types import ErrorMaterializeContext
    >>> factory = disk_error_materializer("errors", jsonl_serializer)
    >>> factory(ErrorMaterializeContext("etl", "rows")).__name__
    'append_error_to_disk'

Each error becomes one ``ErrorRecord`` appended to
``path / (file_name or f"{step}.{ext}")``: the pipeline, step, run id, exception and
traceback, and for an item of an EACH step its index and a short repr of it (a
dead-letter file to re-run). Records are serialized in memory and appended with a
single write, so a crash or two threads failing at once never leave half a record in
the file. ``mode="overwrite"`` starts the file afresh for every run (a run without
errors leaves no file); the default ``"append"`` keeps the records of earlier runs.
``path`` and ``file_name`` may name params fields (``"{out_dir}/errors"``).
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any, Callable

from synaflow.core.default_materializers import (format_exception_text,
                                                 log_error_materializer_factory)
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.core.types import ErrorContext, ErrorMaterializeContext, ErrorRecord
from synaflow.materializers.disk import (FileTarget, call_serializer, check_file_name,
                                         opens_binary, serializer_extension)
from synaflow.serializers.csv import CsvSerializer
from synaflow.serializers.json import JsonSerializer

__all__ = ["disk_error_materializer", "log_error_materializer",
           "DiskErrorMaterializerFactory", "ErrorAppender", "AsyncErrorAppender"]

_O_BINARY = getattr(os, "O_BINARY", 0)
MODES = ("append", "overwrite")


def log_error_materializer() -> Callable[[ErrorMaterializeContext], Any]:
    """The default log factory (``__name__ == "log_error_materializer"``).

    It resolves to ``log_error``: one WARNING per error on logger ``synaflow``,
    ``[<pipeline>] [<dataset>] [<step>] [<run_id>] <ExcType>: <message>``.

    >>> log_error_materializer().__name__
    'log_error_materializer'
    """
    return log_error_materializer_factory


def error_record(error_ctx: ErrorContext) -> ErrorRecord:
    """The record written for one error; the traceback is the exception's own."""
    exc = error_ctx.exception
    return ErrorRecord(
        pipeline_name=error_ctx.pipeline_name, dataset_name=error_ctx.dataset_name,
        exception_type=type(exc).__name__, exception_message=str(exc),
        traceback=format_exception_text(exc), step_name=error_ctx.step_name,
        run_id=error_ctx.run_id, item_index=error_ctx.item_index, item=error_ctx.item)


def _serialized(serializer: Any, record: ErrorRecord) -> bytes:
    """The bytes ``serializer`` produces for ``record``, exactly as in a real file."""
    buffer = io.BytesIO()
    if opens_binary(serializer):
        call_serializer(serializer, buffer, record)
        return buffer.getvalue()
    text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    call_serializer(serializer, text, record)
    text.flush()
    text.detach()  # keep the BytesIO open after the wrapper goes away
    payload = buffer.getvalue()
    # one record per line: a text serializer writes a bare repr (0.32.4 ran them together)
    return payload if payload.endswith(b"\n") else payload + b"\n"


def append_bytes(target: Path, payload: bytes) -> None:
    """Append ``payload`` with one ``O_APPEND`` write (looping only on short writes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_BINARY, 0o666)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


class ErrorAppender(FileTarget):
    """The resolved sync error materializer ``append_error_to_disk``."""

    __name__ = "append_error_to_disk"

    def __init__(self, path: Path | str, serializer: Any, file_name: str,
                 mode: str = "append") -> None:
        super().__init__(path, serializer, file_name)
        check_file_name(file_name, folder=self.path, who="disk_error_materializer")
        self.mode = mode

    def __synaflow_run_started__(self, run_id: str) -> None:
        """A run starts: in overwrite mode its records replace those of earlier runs."""
        if self.mode == "overwrite":
            self.target.unlink(missing_ok=True)

    def __call__(self, error_ctx: ErrorContext) -> None:
        append_bytes(self.target, _serialized(self.serializer, error_record(error_ctx)))


class AsyncErrorAppender(ErrorAppender):
    """``append_error_to_disk`` for async pipelines (the file write runs in a thread)."""

    async def __call__(self, error_ctx: ErrorContext) -> None:
        import asyncio  # only async pipelines get here

        payload = _serialized(self.serializer, error_record(error_ctx))
        await asyncio.to_thread(append_bytes, self.target, payload)


class DiskErrorMaterializerFactory(FileTarget):
    """The factory returned by ``disk_error_materializer``."""

    __name__ = "factory"

    def __init__(self, path: Path | str, serializer: Any, file_name: str | None = None,
                 mode: str = "append") -> None:
        super().__init__(path, serializer, file_name)
        self.mode = mode

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        ref = super().__synaflow_ref__()
        if ref is not None and self.mode != "append":
            ref["kwargs"]["mode"] = self.mode
        return ref

    def _key(self) -> tuple[Any, ...]:
        return super()._key() + (self.mode,)

    def __call__(self, ctx: ErrorMaterializeContext) -> ErrorAppender:
        name = self.file_name or f"{ctx.dataset_name}.{serializer_extension(self.serializer)}"
        check_file_name(name, folder=self.path, who="disk_error_materializer",
                        pipeline=ctx.pipeline_name, step=ctx.dataset_name,
                        explicit=bool(self.file_name))
        appender = AsyncErrorAppender if ctx.is_async_pipeline else ErrorAppender
        return appender(self.path, self.serializer, name, self.mode)


def _refuse_whole_document(serializer: Any) -> None:
    """JSON and CSV files are one document: appended records would corrupt them."""
    for cls, why in ((JsonSerializer, "a JSON file holds one document, so a second "
                                      "appended record makes it invalid JSON"),
                     (CsvSerializer, "every appended record would repeat the CSV header")):
        if isinstance(serializer, cls):
            raise PipelineDefinitionError(
                f"disk_error_materializer does not support '{cls.__name__}': {why}",
                param="serializer", prefix=False,
                fix="use an append-safe serializer: jsonl_serializer, text_serializer "
                    "or pickle_serializer")


def disk_error_materializer(path: Path | str, serializer: Any, file_name: str | None = None,
                            *, mode: str = "append") -> DiskErrorMaterializerFactory:
    """Append one ``ErrorRecord`` per recorded error to a file per step.

    ``mode="append"`` (the default) keeps earlier runs' records; ``"overwrite"`` starts
    the file afresh when a run starts. ``path``/``file_name`` may name params fields.

    Raises ``PipelineDefinitionError`` (a ``ValueError``) at once for
    ``JsonSerializer``/``CsvSerializer`` instances, which are not append-safe.

    >>> from synaflow.serializers import json_serializer
    >>> try:
    ...     disk_error_materializer("errors", json_serializer)
    ... except ValueError as exc:
    ...     print(str(exc).split(":")[0])
    disk_error_materializer does not support 'JsonSerializer'
    """
    _refuse_whole_document(serializer)
    if mode not in MODES:
        raise PipelineDefinitionError(
            f"disk_error_materializer mode must be 'append' or 'overwrite', found {mode!r}",
            param="mode", prefix=False,
            fix="mode='append' keeps earlier runs' records, mode='overwrite' keeps one run's")
    return DiskErrorMaterializerFactory(path, serializer, file_name, mode)
