"""Disk materializer: write a producer's output to one file per step, atomically.

    >>> from synaflow.materializers.disk import disk_materializer
    >>> from synaflow.serializers import jsonl_serializer
    >>> factory = disk_materializer("out", jsonl_serializer)
    >>> from synaflow.core.types import MaterializeContext
    >>> writer = factory(MaterializeContext("etl", "rows", list))
    >>> writer.__name__, writer.target.as_posix()
    ('write_to_disk', 'out/rows.jsonl')

The file is ``path / (file_name or f"{step}.{serializer.extension}")``. It is
written to a temporary file in the same folder and moved onto the target only
once complete, so a crash never leaves a half-written file that looks finished.

The callables here are small class instances rather than closures so that they
pickle (Ray) and describe themselves in the JSON contract through
``__synaflow_ref__`` (see ``synaflow.core.default_materializers``).
"""
from __future__ import annotations

import contextlib
import copy
import ntpath
import os
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from synaflow.core.default_materializers import callable_ref, collect_async, list_if_iterator
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.core.types import MaterializeContext

__all__ = ["disk_materializer", "DiskMaterializerFactory", "DiskWriter", "AsyncDiskWriter"]

_BINARY_EXTENSIONS = frozenset({"pkl", "pickle"})
# O_BINARY only exists (and matters) on Windows.
_O_BINARY = getattr(os, "O_BINARY", 0)


# -- serializer helpers (shared with synaflow.materializers.errors) ------------------
def serializer_extension(serializer: Any) -> str:
    """The file extension a serializer asks for (``"txt"`` when it does not say)."""
    return getattr(serializer, "extension", "txt")


def opens_binary(serializer: Any) -> bool:
    """Binary files for pickles (by extension) or when the serializer sets ``binary``."""
    return serializer_extension(serializer) in _BINARY_EXTENSIONS or \
        bool(getattr(serializer, "binary", False))


def call_serializer(serializer: Any, file: IO[Any], value: Any) -> None:
    """``serializer.serialize(file, value)``, or ``serializer(file, value)`` for plain callables."""
    serialize = getattr(serializer, "serialize", None)
    (serialize or serializer)(file, value)


# -- file names that stay inside their folder -----------------------------------------
def _escape_reason(name: str) -> str | None:
    """Why ``path / name`` would not be a file directly inside ``path`` (None if it is)."""
    if not name:
        return "it is empty"
    if "\0" in name:
        return "it contains a NUL character"
    # Checked with Windows rules too, so a contract written on Linux is safe on Windows.
    if os.path.isabs(name) or ntpath.isabs(name) or ntpath.splitdrive(name)[0]:
        return "it is an absolute path"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if name in (".", ".."):
        return "it names a directory"
    return None


def check_file_name(name: str, *, folder: Path, who: str, pipeline: str | None = None,
                    step: str | None = None, explicit: bool = True) -> None:
    """Refuse a file name that would land outside ``folder`` (build time, no I/O)."""
    reason = _escape_reason(name)
    if reason is None:
        return
    origin = "file_name" if explicit else "the step name"
    raise PipelineDefinitionError(
        f"{who} cannot write '{name}' (from {origin}) inside folder '{folder}': {reason}, "
        "so the file would not stay in that folder",
        pipeline=pipeline, step=step, param="file_name" if explicit else None,
        fix="pass file_name= with a plain file name such as 'output.jsonl', "
            "and put any directories into path=")


# -- the atomic write -----------------------------------------------------------------
def _open_fd(fd: int, binary: bool) -> IO[Any]:
    try:
        if binary:
            return open(fd, "wb")
        # newline="": the serializer decides line ends (csv writes \r\n) on every OS.
        return open(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; best effort (Windows cannot open folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(target: Path, serializer: Any, value: Any) -> None:
    """Serialize ``value`` into ``target`` through a temporary file and ``os.replace``.

    On any exception the temporary file is removed and ``target`` keeps its
    previous content (or stays absent).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 honours the umask like a plain open(); tempfile.mkstemp
    # would leave the final file readable by its owner only. O_EXCL: never reuse
    # another writer's temporary file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
    try:
        with _open_fd(fd, opens_binary(serializer)) as file:
            call_serializer(serializer, file, value)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


# -- the callables ---------------------------------------------------------------------
# -- locations from params ----------------------------------------------------------------
def template_fields(text: str) -> list[str]:
    """The ``{field}`` names in a path template (``{{``/``}}`` are literal braces)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"path template {text!r} is malformed ({exc}); write a literal brace "
                         "as {{ or }}") from None
    return [name for _, name, _, _ in parsed if name is not None]


def fill_template(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with each ``{field}`` replaced by the run's value of that params field."""
    if not template_fields(text):
        return text
    missing = [f for f in template_fields(text) if f not in params]
    if missing:
        raise ValueError(f"path template {text!r} names {missing}, which the run's params do "
                         f"not have (params fields: {', '.join(params) or '<none>'})")
    return string.Formatter().vformat(text, (), dict(params))


class FileTarget:
    """Common state of the disk callables: folder, serializer and (optional) file name.

    ``path`` and ``file_name`` may name params fields, ``"{out_dir}/reports"``: they
    are checked when ``pipeline(...)`` is called and filled in for each run."""

    def __init__(self, path: Path | str, serializer: Any, file_name: str | None = None) -> None:
        self.path = Path(path)
        self.serializer = serializer
        self.file_name = file_name

    def __synaflow_ref__(self) -> dict[str, Any] | None:
        """Rebuild spec; ``None`` when the serializer itself cannot be described."""
        serializer = callable_ref(self.serializer)
        if serializer is None:
            return None
        return {"ref": f"{type(self).__module__}:{type(self).__qualname__}",
                "kwargs": {"path": os.fspath(self.path), "serializer": serializer,
                           "file_name": self.file_name}}

    def _key(self) -> tuple[Any, ...]:
        return (type(self), self.path, self.serializer, self.file_name)

    def __synaflow_template_fields__(self) -> list[str]:
        """The params fields the path and file name name (checked at build time)."""
        return template_fields(os.fspath(self.path)) + template_fields(self.file_name or "")

    def __synaflow_for_run__(self, params: Mapping[str, Any]) -> "FileTarget":
        """This callable with its path and file name filled in from one run's params."""
        if not self.__synaflow_template_fields__():
            return self
        filled = copy.copy(self)
        filled.path = Path(fill_template(os.fspath(self.path), params))
        if self.file_name:
            filled.file_name = fill_template(self.file_name, params)
            check_file_name(filled.file_name, folder=filled.path, who=type(self).__name__)
        return filled

    @property
    def target(self) -> Path:
        """The file this callable writes (or appends) to."""
        return self.path / self.file_name  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileTarget) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self), self.path, self.file_name))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(path={os.fspath(self.path)!r}, "
                f"serializer={self.serializer!r}, file_name={self.file_name!r})")


class DiskWriter(FileTarget):
    """The resolved sync materializer ``write_to_disk``: writes, then returns the value."""

    __name__ = "write_to_disk"

    def __init__(self, path: Path | str, serializer: Any, file_name: str) -> None:
        super().__init__(path, serializer, file_name)
        # Also checked here because a writer can be rebuilt from (edited) JSON.
        check_file_name(file_name, folder=self.path, who="disk_materializer")

    def __call__(self, value: Any) -> Any:
        value = list_if_iterator(value)
        write_atomically(self.target, self.serializer, value)
        return value


class AsyncDiskWriter(DiskWriter):
    """``write_to_disk`` for async pipelines: collects the stream, writes in a worker thread."""

    async def __call__(self, value: Any) -> Any:
        import asyncio  # only async pipelines get here; keeps this module asyncio-free

        value = await collect_async(value)
        # File I/O and fsync must not block the event loop.
        await asyncio.to_thread(write_atomically, self.target, self.serializer, value)
        return value


class DiskMaterializerFactory(FileTarget):
    """The factory returned by ``disk_materializer``; resolves to a ``write_to_disk`` writer."""

    __name__ = "factory"

    def __call__(self, ctx: MaterializeContext) -> DiskWriter:
        name = self.file_name or f"{ctx.dataset_name}.{serializer_extension(self.serializer)}"
        check_file_name(name, folder=self.path, who="disk_materializer",
                        pipeline=ctx.pipeline_name, step=ctx.dataset_name,
                        explicit=bool(self.file_name))
        writer = AsyncDiskWriter if ctx.is_async_pipeline else DiskWriter
        return writer(self.path, self.serializer, name)


def disk_materializer(path: Path | str, serializer: Any,
                      file_name: str | None = None) -> DiskMaterializerFactory:
    """Materialize a step's output to ``path / (file_name or f"{step}.{ext}")``.

    ``serializer`` is any object with ``extension`` and ``serialize(file, data)``
    (see ``synaflow.serializers``). Iterators are listed first; the (listed)
    value is returned, so consumers receive it unchanged. Each run overwrites
    the file, atomically. Works in sync and async pipelines.
    """
    return DiskMaterializerFactory(path, serializer, file_name)
