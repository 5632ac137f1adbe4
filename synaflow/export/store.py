"""The store that carries data between slices of a contract (issue 25, part one).

A store is a local folder or any ``pyarrow.fs`` URI (``file://``, ``s3://``, ``gs://``),
laid out as::

    {run_id}/{step}/data.arrow       an Arrow table or record batch (Arrow IPC; read
                                     memory-mapped from a local folder)
    {run_id}/{step}/data.pickle      anything else (the pipeline's serializer comes later)
    {run_id}/_slices/{slice}.json    one manifest per finished slice

Every write goes to a temporary name next to its target and is then moved onto it, so
a reader never sees half a file; a slice commits by writing its manifest last. Writing
the same step of the same run again (an orchestrator's retry) replaces it whole.

    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.write("run-1", "total", 42)
    >>> store.read("run-1", "total")
    42
"""
from __future__ import annotations

import json
import os
import pickle
import secrets
from typing import Any

from ..core.exceptions import SynaflowError

__all__ = ["Store", "StoreError", "MissingInputError", "as_store"]

_ARROW, _PICKLE = "data.arrow", "data.pickle"
_SLICES = "_slices"


class StoreError(SynaflowError, OSError):
    """The store cannot be opened, read or written; the message names the location."""


class MissingInputError(StoreError, LookupError):
    """A slice's input is not in the store: the step that produces it has not run (or
    not for this run id). The message names the producing step and the run."""


def _safe(part: str, what: str) -> str:
    if not part or "/" in part or "\\" in part or part in (".", "..") or part.startswith("_"):
        raise ValueError(f"{what} {part!r} cannot name a folder of the store: use letters, "
                         "digits, '-' or '.', not a path or a name starting with '_'")
    return part


class Store:
    """A run store at ``location`` (a folder, or a URI ``pyarrow.fs`` understands)."""

    def __init__(self, location: str | os.PathLike[str]) -> None:
        from pyarrow import fs

        text = os.fspath(location)
        try:
            if "://" in text:
                self.fs, root = fs.FileSystem.from_uri(text)
            else:
                self.fs, root = fs.LocalFileSystem(), os.path.abspath(text)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise StoreError(f"cannot open the store at {text!r}: {exc}") from exc
        self.location = text
        self.root = root.rstrip("/")
        self.local = isinstance(self.fs, fs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    # -- paths -----------------------------------------------------------------------------
    def _dir(self, run_id: str, step: str | None = None) -> str:
        base = f"{self.root}/{_safe(run_id, 'run id')}"
        return base if step is None else f"{base}/{_step_dir(step)}"

    def _exists(self, path: str) -> bool:
        from pyarrow import fs

        return self.fs.get_file_info(path).type != fs.FileType.NotFound

    def _put(self, path: str, data: bytes | None = None, table: Any = None) -> None:
        """Write ``data`` (or an Arrow ``table``) to ``path`` atomically."""
        self.fs.create_dir(path.rpartition("/")[0], recursive=True)
        temporary = f"{path}.tmp-{secrets.token_hex(6)}"
        try:
            with self.fs.open_output_stream(temporary) as out:
                if table is None:
                    out.write(data)
                else:
                    import pyarrow as pa

                    with pa.ipc.new_file(out, table.schema) as writer:
                        writer.write(table)
            self.fs.move(temporary, path)
        except Exception as exc:
            if self._exists(temporary):
                self.fs.delete_file(temporary)
            raise StoreError(f"cannot write {path!r} in the store at {self.location!r}: "
                             f"{exc}") from exc

    # -- step outputs ------------------------------------------------------------------------
    def write(self, run_id: str, step: str, value: Any) -> None:
        """Store ``step``'s output of run ``run_id`` (replacing an earlier write)."""
        import pyarrow as pa

        folder = self._dir(run_id, step)
        if isinstance(value, (pa.Table, pa.RecordBatch)):
            table = value if isinstance(value, pa.Table) else pa.Table.from_batches([value])
            self._put(f"{folder}/{_ARROW}", table=table)
            stale = f"{folder}/{_PICKLE}"
        else:
            try:
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                raise StoreError(f"step '{step}': its output ({type(value).__name__}) cannot "
                                 f"be pickled for the store: {exc}") from exc
            self._put(f"{folder}/{_PICKLE}", data)
            stale = f"{folder}/{_ARROW}"
        if self._exists(stale):  # a retry that changed the output's kind
            self.fs.delete_file(stale)

    def has(self, run_id: str, step: str) -> bool:
        folder = self._dir(run_id, step)
        return self._exists(f"{folder}/{_ARROW}") or self._exists(f"{folder}/{_PICKLE}")

    def read(self, run_id: str, step: str, *, consumer: str | None = None) -> Any:
        """``step``'s stored output of run ``run_id``; ``MissingInputError`` naming the
        producing step (and ``consumer``, the step that needs it) when it is not there."""
        folder = self._dir(run_id, step)
        arrow, pickled = f"{folder}/{_ARROW}", f"{folder}/{_PICKLE}"
        if self._exists(arrow):
            import pyarrow as pa

            if self.local:  # memory-mapped: the table's buffers are the file's pages
                return pa.ipc.open_file(pa.memory_map(arrow)).read_all()
            with self.fs.open_input_file(arrow) as source:
                return pa.ipc.open_file(source).read_all()
        if self._exists(pickled):
            with self.fs.open_input_stream(pickled) as source:
                return pickle.loads(source.read())
        needed = f", which step '{consumer}' reads," if consumer else ""
        raise MissingInputError(
            f"the output of step '{step}'{needed} is not in the store {self.location!r} for "
            f"run '{run_id}'. Fix: run the slice that contains step '{step}' first, with the "
            "same run id")

    # -- slices --------------------------------------------------------------------------------
    def commit(self, run_id: str, slice_name: str, manifest: dict[str, Any]) -> None:
        """Record that a slice finished (its outputs are all written)."""
        data = json.dumps(manifest, sort_keys=True, indent=1, default=str).encode()
        self._put(f"{self._dir(run_id)}/{_SLICES}/{_safe(slice_name, 'slice')}.json", data)

    def manifest_uri(self, run_id: str, slice_name: str) -> str:
        """Where the manifest of a committed slice is: what passes between tasks."""
        path = f"{self._dir(run_id)}/{_SLICES}/{_safe(slice_name, 'slice')}.json"
        scheme = self.location.split("://", 1)[0] if "://" in self.location else None
        return f"{scheme}://{path}" if scheme else path

    def manifests(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The committed slices of a run: slice name -> manifest."""
        from pyarrow import fs

        folder = f"{self._dir(run_id)}/{_SLICES}"
        if not self._exists(folder):
            return {}
        out = {}
        for info in self.fs.get_file_info(fs.FileSelector(folder)):
            if info.type == fs.FileType.File and info.base_name.endswith(".json"):
                with self.fs.open_input_stream(info.path) as source:
                    out[info.base_name[:-len(".json")]] = json.loads(source.read())
        return dict(sorted(out.items()))

    def runs(self) -> list[str]:
        """The run ids in the store, oldest first (by their folder's modification time)."""
        from pyarrow import fs

        if not self._exists(self.root):
            return []
        infos = [i for i in self.fs.get_file_info(fs.FileSelector(self.root))
                 if i.type == fs.FileType.Directory]
        return [i.base_name for i in sorted(infos, key=lambda i: (i.mtime_ns or 0, i.base_name))]


def as_store(store: Any) -> Store:
    """``store`` itself, or the ``Store`` at that location (a folder or a URI)."""
    return store if isinstance(store, Store) else Store(store)


def _step_dir(step: str) -> str:
    """Step names are identifiers (an included step is ``outer__inner``): safe as is."""
    if not step or not all(c.isalnum() or c in "_-." for c in step):
        raise ValueError(f"step {step!r} cannot name a folder of the store")
    return step
