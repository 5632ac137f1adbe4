"""Serializers: every row of spec 06 §5, written into in-memory files."""
from __future__ import annotations

import dataclasses
import io
import pickle
from collections import OrderedDict

import pytest

import synaflow
from synaflow.serializers import (CsvSerializer, JsonlSerializer, JsonSerializer,
                                  PickleSerializer, TextSerializer, csv_serializer,
                                  json_serializer, jsonl_serializer, pickle_serializer,
                                  text_serializer)


@dataclasses.dataclass
class Row:
    a: int
    b: str = "x"


def written(serializer, data) -> str:
    buf = io.StringIO()
    serializer.serialize(buf, data)
    return buf.getvalue()


# -- protocol -----------------------------------------------------------------------
@pytest.mark.parametrize("obj, cls, ext", [
    (csv_serializer, CsvSerializer, "csv"), (json_serializer, JsonSerializer, "json"),
    (jsonl_serializer, JsonlSerializer, "jsonl"), (pickle_serializer, PickleSerializer, "pkl"),
    (text_serializer, TextSerializer, "txt"),
])
def test_singletons_and_extensions(obj, cls, ext):
    """Each singleton is an instance of its class and carries the spec'd extension."""
    assert isinstance(obj, cls)
    assert obj.extension == ext
    assert callable(obj.serialize)


def test_top_level_reexports():
    """``synaflow.<name>_serializer`` is the same object as in ``synaflow.serializers``."""
    assert synaflow.json_serializer is json_serializer
    assert synaflow.csv_serializer is csv_serializer


def test_submodules_keep_stdlib_importable():
    """Modules named json/csv/pickle inside the package do not shadow the stdlib."""
    import csv
    import json
    assert hasattr(json, "dumps") and hasattr(csv, "DictWriter") and hasattr(pickle, "dumps")


def test_only_pickle_is_binary():
    assert pickle_serializer.binary is True
    assert not getattr(json_serializer, "binary", False)


# -- json ----------------------------------------------------------------------------
def test_json_dumps_one_document():
    """``json.dump`` of the whole value, no trailing newline; tuples become lists."""
    assert written(json_serializer, {"a": [1, 2]}) == '{"a": [1, 2]}'
    assert written(json_serializer, (1, 2)) == "[1, 2]"


def test_json_rejects_dataclass():
    with pytest.raises(TypeError):
        written(json_serializer, Row(1))


# -- jsonl ---------------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ("abc", '"abc"\n'),
    ({"a": 1, "b": 2}, '"a"\n"b"\n'),  # a dict is an iterable of keys
    ([1, "a", {"k": 1}], '1\n"a"\n{"k": 1}\n'),
    (5, "5\n"),
    (None, "null\n"),
    (Row(1), '{"a": 1, "b": "x"}\n'),
    ([Row(1), Row(2)], '{"a": 1, "b": "x"}\n{"a": 2, "b": "x"}\n'),
    (iter([1, 2]), "1\n2\n"),
    ((1, 2), "1\n2\n"),
    ([], ""),
    (["é"], '"\\u00e9"\n'),
])
def test_jsonl_lines(data, expected):
    """One JSON line per item; str and single values are one line; dataclasses -> asdict."""
    assert written(jsonl_serializer, data) == expected


def test_jsonl_bytes_is_one_value():
    """bytes are a single value (and, as in 0.32.4, not JSON serialisable)."""
    with pytest.raises(TypeError, match="bytes"):
        written(jsonl_serializer, b"xy")


# -- csv -----------------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ("abc", "abc\r\n"),
    (b"xy", "b'xy'\r\n"),
    ({"a": 1, "b": 2}, "a,b\r\n1,2\r\n"),  # a single mapping is one row
    ([{"a": 1, "b": 2}, {"a": 3}], "a,b\r\n1,2\r\n3,\r\n"),  # missing key -> ""
    ([{"a": 1}, [1, 2], 7], 'a\r\n1\r\n"[1, 2]"\r\n7\r\n'),  # non-mappings under 1st field
    ([[1, 2], (3, 4), 5, "xy"], "1,2\r\n3,4\r\n5\r\nxy\r\n"),
    ([[1, 2], {"a": 1}], "1,2\r\n{'a': 1}\r\n"),  # writer mode: mapping is one cell
    ([], ""),
    (5, "5\r\n"),
    (Row(1), "a,b\r\n1,x\r\n"),
    ([Row(1), Row(2)], "a,b\r\n1,x\r\n2,x\r\n"),
    (iter([[1, 2]]), "1,2\r\n"),
    ([OrderedDict(a=1)], "a\r\n1\r\n"),
    ([["a,b", 'q"']], '"a,b","q"""\r\n'),
])
def test_csv_rows(data, expected):
    """Row splitting, DictWriter vs writer, and ``\\r\\n`` line ends."""
    assert written(csv_serializer, data) == expected


def test_csv_extra_key_raises():
    """Keys beyond the fieldnames are an error (csv.DictWriter extrasaction='raise')."""
    with pytest.raises(ValueError, match="'c'"):
        written(csv_serializer, [{"a": 1}, {"a": 3, "c": 4}])


def test_csv_fieldnames_and_delimiter():
    """Constructor fieldnames order the header; delimiter is used everywhere."""
    ser = CsvSerializer(fieldnames=["b", "a"], delimiter=";")
    assert written(ser, [{"a": 1, "b": 2}]) == "b;a\r\n2;1\r\n"
    with pytest.raises(ValueError):
        written(CsvSerializer(fieldnames=["b"]), [{"a": 1, "b": 2}])
    assert written(CsvSerializer(fieldnames=["b"]), [[1, 2]]) == "1,2\r\n"


def test_csv_constructor_defaults():
    assert csv_serializer.fieldnames is None and csv_serializer.delimiter == ","


# -- pickle --------------------------------------------------------------------------
def test_pickle_round_trip_and_appends():
    """One pickle per call, so consecutive records can be loaded back one by one."""
    buf = io.BytesIO()
    pickle_serializer.serialize(buf, {"a": 1})
    pickle_serializer.serialize(buf, Row(2))
    buf.seek(0)
    assert pickle.load(buf) == {"a": 1}
    assert pickle.load(buf) == Row(2)


# -- text ----------------------------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ("abc", "abc"),
    (b"xy", "xy"),  # decoded: StringIO has an `encoding` attribute
    ({"a": 1, "b": 2}, "a\nb\n"),
    ([1, "a"], "1\na\n"),
    ((x for x in [1, 2]), "1\n2\n"),
    (5, "5"),
    (None, "None"),
    (Row(1), "Row(a=1, b='x')"),
    ([b"xy"], "b'xy'\n"),
    ("", ""),
])
def test_text_rules(data, expected):
    assert written(text_serializer, data) == expected


def test_text_bytes_raw_into_binary_file():
    """A file without ``encoding`` (binary) receives the bytes unchanged."""
    buf = io.BytesIO()
    text_serializer.serialize(buf, b"\xffraw")
    assert buf.getvalue() == b"\xffraw"


def test_text_bytes_decoded_into_text_file():
    raw = io.BytesIO()
    wrapper = io.TextIOWrapper(raw, encoding="utf-8")
    text_serializer.serialize(wrapper, "é".encode())
    wrapper.flush()
    assert raw.getvalue() == "é".encode()
