"""Disk materializer: naming, modes, atomic writes, path-escape refusal, JSON refs."""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys

import pytest

from synaflow.core.default_materializers import callable_ref, is_factory, load_ref
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.core.signatures import is_async_callable
from synaflow.core.types import MaterializeContext
from synaflow.materializers.disk import AsyncDiskWriter, DiskWriter, disk_materializer
from synaflow.serializers import (CsvSerializer, csv_serializer, json_serializer,
                                  jsonl_serializer, pickle_serializer, text_serializer)


def ctx(step: str = "rows", is_async: bool = False) -> MaterializeContext:
    return MaterializeContext("etl", step, list, list, is_async)


def writer_for(path, serializer, file_name=None, step="rows", is_async=False):
    return disk_materializer(path, serializer, file_name)(ctx(step, is_async))


class Exploding:
    """Writes part of the data, then fails: what a full disk or a bad row looks like."""

    extension = "txt"

    def serialize(self, file, data):
        file.write("partial output")
        file.flush()
        raise RuntimeError("disk full")


# -- naming and shape ------------------------------------------------------------------
def test_factory_and_writer_names(tmp_path):
    """``factory`` resolves (it has a ``ctx`` parameter) to ``write_to_disk``."""
    factory = disk_materializer(tmp_path, jsonl_serializer)
    assert factory.__name__ == "factory" and is_factory(factory)
    writer = factory(ctx())
    assert writer.__name__ == "write_to_disk" and not is_factory(writer)
    assert isinstance(writer, DiskWriter) and not is_async_callable(writer)


def test_default_file_name(tmp_path):
    """Target is ``path / f"{step}.{extension}"``; parents are created at write time."""
    target_dir = tmp_path / "a" / "b"
    writer = writer_for(target_dir, jsonl_serializer)
    assert not target_dir.exists()  # build time does no I/O
    assert writer([1, 2]) == [1, 2]
    assert (target_dir / "rows.jsonl").read_text() == "1\n2\n"


def test_explicit_file_name(tmp_path):
    writer_for(str(tmp_path), json_serializer, file_name="out.data")({"a": 1})
    assert json.loads((tmp_path / "out.data").read_text()) == {"a": 1}


def test_missing_extension_defaults_txt(tmp_path):
    """A serializer without ``extension`` gives ``.txt``; one without ``serialize`` is called."""
    def raw(file, data):
        file.write(f"<{data}>")
    writer_for(tmp_path, raw)("v")
    assert (tmp_path / "rows.txt").read_text() == "<v>"


def test_iterator_listed_and_returned(tmp_path):
    """Iterators are listed first; the listed value is what consumers receive."""
    result = writer_for(tmp_path, text_serializer)(x * 2 for x in range(3))
    assert result == [0, 2, 4]
    assert (tmp_path / "rows.txt").read_text() == "0\n2\n4\n"


def test_value_returned_unchanged(tmp_path):
    value = {"k": 1}
    assert writer_for(tmp_path, json_serializer)(value) is value


def test_pickle_binary_mode(tmp_path):
    writer_for(tmp_path, pickle_serializer)({"a": [1, 2]})
    assert pickle.loads((tmp_path / "rows.pkl").read_bytes()) == {"a": [1, 2]}


def test_binary_flag_and_pickle_extension(tmp_path):
    """``binary = True`` or a ``pickle`` extension open the file in binary mode."""
    class Raw:
        extension = "bin"
        binary = True

        def serialize(self, file, data):
            file.write(bytes(data))

    class OldPickle:
        extension = "pickle"

        def serialize(self, file, data):
            pickle.dump(data, file)

    writer_for(tmp_path, Raw())([1, 2, 255])
    writer_for(tmp_path, OldPickle())("v")
    assert (tmp_path / "rows.bin").read_bytes() == b"\x01\x02\xff"
    assert pickle.loads((tmp_path / "rows.pickle").read_bytes()) == "v"


def test_csv_keeps_crlf_and_utf8(tmp_path):
    """Text files are UTF-8 and line ends are the serializer's own (no translation)."""
    writer_for(tmp_path, csv_serializer)([{"name": "é"}])
    assert (tmp_path / "rows.csv").read_bytes() == "name\r\né\r\n".encode()


def test_overwrites_each_run(tmp_path):
    writer = writer_for(tmp_path, text_serializer)
    writer(["first", "run"])
    writer(["second"])
    assert (tmp_path / "rows.txt").read_text() == "second\n"
    assert os.listdir(tmp_path) == ["rows.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_file_mode_honours_umask(tmp_path):
    """The final file gets normal permissions, not the 0600 of a typical temp file."""
    umask = os.umask(0)
    os.umask(umask)
    writer_for(tmp_path, text_serializer)("x")
    assert (tmp_path / "rows.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# -- atomic writes ---------------------------------------------------------------------
def test_failed_write_leaves_nothing(tmp_path):
    """A serializer failing halfway leaves neither a target nor a temporary file."""
    with pytest.raises(RuntimeError, match="disk full"):
        writer_for(tmp_path, Exploding())(["a"])
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_previous(tmp_path):
    """The previous complete file survives a failed rewrite byte for byte."""
    (tmp_path / "rows.txt").write_text("old complete content")
    with pytest.raises(RuntimeError):
        writer_for(tmp_path, Exploding())(["a"])
    assert (tmp_path / "rows.txt").read_text() == "old complete content"
    assert os.listdir(tmp_path) == ["rows.txt"]


def test_interrupt_cleans_up(tmp_path):
    """Even a KeyboardInterrupt inside the serializer removes the temporary file."""
    class Interrupted:
        extension = "txt"

        def serialize(self, file, data):
            file.write("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        writer_for(tmp_path, Interrupted())("x")
    assert os.listdir(tmp_path) == []


# -- names that would escape the folder -----------------------------------------------
@pytest.mark.parametrize("file_name", [
    "../outside.json", "/abs/out.json", "sub/out.json", "sub\\out.json", "..", "C:out.json",
])
def test_refuses_escaping_file_name(tmp_path, file_name):
    """At build time, naming the step, the offending name and the fix."""
    factory = disk_materializer(tmp_path, json_serializer, file_name=file_name)
    with pytest.raises(PipelineDefinitionError) as info:
        factory(ctx("load"))
    text = str(info.value)
    assert "Pipeline 'etl', step 'load'" in text and f"'{file_name}'" in text
    assert "file_name=" in text
    assert isinstance(info.value, ValueError)
    assert os.listdir(tmp_path) == []


def test_refuses_escaping_step_name(tmp_path):
    """A step name with a separator is refused too, pointing at file_name=."""
    with pytest.raises(PipelineDefinitionError, match=r"from the step name.*file_name="):
        disk_materializer(tmp_path, jsonl_serializer)(ctx("../evil"))


def test_writer_refuses_escape_when_loaded(tmp_path):
    """A writer rebuilt from edited JSON checks its file name as well."""
    with pytest.raises(PipelineDefinitionError):
        DiskWriter(tmp_path, jsonl_serializer, "../x.jsonl")


# -- async pipelines ------------------------------------------------------------------
async def _agen(items):
    for item in items:
        yield item


def test_async_writer(tmp_path):
    """In async pipelines the writer is awaitable, collects async streams and writes."""
    writer = writer_for(tmp_path, jsonl_serializer, is_async=True)
    assert isinstance(writer, AsyncDiskWriter) and writer.__name__ == "write_to_disk"
    assert is_async_callable(writer)
    assert asyncio.run(writer(_agen([{"a": 1}, {"a": 2}]))) == [{"a": 1}, {"a": 2}]
    assert (tmp_path / "rows.jsonl").read_text() == '{"a": 1}\n{"a": 2}\n'
    assert asyncio.run(writer({"single": True})) == {"single": True}


def test_async_writer_failure_is_atomic(tmp_path):
    writer = writer_for(tmp_path, Exploding(), is_async=True)
    with pytest.raises(RuntimeError):
        asyncio.run(writer(_agen(["a"])))
    assert os.listdir(tmp_path) == []


# -- JSON references ------------------------------------------------------------------
@pytest.mark.parametrize("serializer", [jsonl_serializer, csv_serializer, pickle_serializer,
                                        CsvSerializer(fieldnames=["b", "a"], delimiter=";")])
def test_writer_ref_round_trip(tmp_path, serializer):
    """``load_ref(callable_ref(writer))`` rebuilds an equivalent writer from JSON alone."""
    writer = writer_for(tmp_path, serializer)
    spec = json.loads(json.dumps(callable_ref(writer)))
    assert spec["ref"] == "synaflow.materializers.disk:DiskWriter"
    rebuilt = load_ref(spec)
    assert rebuilt.target == writer.target and rebuilt.__name__ == "write_to_disk"
    assert type(rebuilt.serializer) is type(serializer)
    assert rebuilt.serializer.extension == serializer.extension


def test_singleton_serializer_ref(tmp_path):
    """Serializer singletons travel by name and come back as the same object."""
    spec = callable_ref(writer_for(tmp_path, json_serializer))
    assert spec["kwargs"]["serializer"] == {"ref": "synaflow.serializers.json:json_serializer"}
    assert load_ref(spec).serializer is json_serializer
    assert load_ref(spec) == writer_for(tmp_path, json_serializer)


def test_rebuilt_writer_writes_same_bytes(tmp_path):
    writer = writer_for(tmp_path / "a", csv_serializer)
    rebuilt = load_ref(json.loads(json.dumps(callable_ref(writer))))
    rebuilt.path = tmp_path / "b"
    writer([{"x": 1}])
    rebuilt([{"x": 1}])
    assert (tmp_path / "a" / "rows.csv").read_bytes() == (tmp_path / "b" / "rows.csv").read_bytes()


def test_async_writer_and_factory_refs(tmp_path):
    async_writer = writer_for(tmp_path, text_serializer, is_async=True)
    assert type(load_ref(callable_ref(async_writer))) is AsyncDiskWriter
    factory = disk_materializer(tmp_path, text_serializer, file_name="f.txt")
    assert load_ref(json.loads(json.dumps(callable_ref(factory)))) == factory


def test_unknown_serializer_no_ref(tmp_path):
    """A serializer that cannot be described makes the writer undescribable (None)."""
    writer = writer_for(tmp_path, Exploding())
    assert callable_ref(writer) is None
