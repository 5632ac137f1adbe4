"""``max_in_flight_bytes`` at build time: parsing, the errors, the contract, includes.

The option is checked when the pipeline is built (an int of bytes or a size string;
refused where it could do nothing: a value step, or ``max_in_flight=1``), stored on
the node as an int, exported as ``max_in_flight_bytes`` (omitted when unset) and
loaded back by ``Dag.from_dict``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import NamedTuple

import jsonschema
import pytest

from buildkit import example
from synaflow import include, pipeline, step
from synaflow.core.contract import contract_json_schema
from synaflow.core.dag import Dag
from synaflow.core.exceptions import ContractLoadError, PipelineDefinitionError


class P(NamedTuple):
    n: int = 3


def rows(n: int) -> Iterator[int]:
    yield from range(n)


def total(rows: Iterator[int]) -> int:
    return sum(rows)


def listed(rows: list[int]) -> int:
    return len(rows)


def double(row: int) -> int:
    return 2 * row


def count(n: int) -> int:
    return n


def build(bound, *, mif=8, on="rows", reader=total):
    source = step("rows", fn=rows, max_in_flight=mif,
                  max_in_flight_bytes=bound if on == "rows" else None)
    if on == "count":
        return pipeline(name="b", params=P, steps=[
            step("count", fn=count, max_in_flight=mif, max_in_flight_bytes=bound)])
    return pipeline(name="b", params=P, steps=[source, step(reader.__name__, fn=reader)])


@pytest.mark.parametrize("given, expected", [
    (1, 1), (3 * 2**20, 3 * 2**20), ("64MiB", 64 * 2**20), ("1.5 GiB", 3 * 2**29),
    ("512kB", 512_000), ("2 MB", 2_000_000), ("100", 100), ("100b", 100),
    (" 8 KiB ", 8192), ("1TiB", 2**40),
])
def test_sizes_parse(given, expected):
    """Ints as bytes; strings with a decimal (kB, MB, ...) or binary (KiB, MiB, ...) unit."""
    assert build(given).dag.steps["rows"].max_in_flight_bytes == expected


BAD = [
    (0, ["must be at least 1 byte, got 0"]),
    (-5, ["must be at least 1 byte, got -5"]),
    ("0.4B", ["must be at least 1 byte, got '0.4B'"]),
    (2.5, ["expects a number of bytes", "found float 2.5"]),
    (True, ["expects a number of bytes", "found bool True"]),
    ("12 parsecs", ["found '12 parsecs'", "MiB"]),
    ("MiB", ["found 'MiB'"]),
    ([64], ["found list [64]"]),
]


@pytest.mark.parametrize("bad, phrases", BAD, ids=[repr(b) for b, _ in BAD])
def test_bad_values(bad, phrases):
    """Each refusal names the pipeline, the step and the option, what was found, and
    shows a value that works."""
    with pytest.raises(PipelineDefinitionError) as info:
        build(bad)
    text = str(info.value)
    for phrase in ["Pipeline 'b'", "step 'rows'", "parameter 'max_in_flight_bytes'",
                   "Fix: max_in_flight_bytes=64 * 2**20", *phrases]:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    assert info.value.param_name == "max_in_flight_bytes"


def test_needs_max_in_flight():
    """With max_in_flight=1 the hand-off already holds one item: a byte bound would do
    nothing, and the message says to raise max_in_flight."""
    with pytest.raises(PipelineDefinitionError) as info:
        build("64MiB", mif=1)
    text = str(info.value)
    assert "step 'rows'" in text and "no effect with max_in_flight=1" in text
    assert "max_in_flight=64, max_in_flight_bytes='64MiB'" in text


def test_value_step_refused():
    """A step returning a value has no hand-off to bound."""
    with pytest.raises(PipelineDefinitionError) as info:
        build(1024, on="count")
    text = str(info.value)
    assert "step 'count'" in text and "returns a value (int)" in text
    assert "parameter 'max_in_flight_bytes'" in text and "Iterator[...]" in text


def doubled_total(double: Iterator[int]) -> int:
    return sum(double)


def test_other_streams_accepted():
    """A stream that a consumer materializes (the bound then has no effect, like
    max_in_flight's) and an EACH step's output are streams: accepted."""
    p = pipeline(name="b", params=P, steps=[
        step("rows", fn=rows, max_in_flight=4, max_in_flight_bytes="1MiB"),
        step("listed", fn=listed)])
    node = p.dag.steps["rows"]
    assert node.max_in_flight_bytes == 2**20 and node.publish_plan.strategy == \
        "publish_materialized"
    p = pipeline(name="b", params=P, steps=[
        step("rows", fn=rows), step("double", fn=double, max_in_flight=4,
                                    max_in_flight_bytes=4096),
        step("doubled_total", fn=doubled_total)])
    assert p.dag.steps["double"].max_in_flight_bytes == 4096


def test_contract_round_trip():
    """Exported as an int, valid for the JSON Schema, loaded back; absent when unset."""
    d = build("2MiB").to_dict()
    assert d["steps"]["rows"]["max_in_flight_bytes"] == 2 * 2**20
    assert "max_in_flight_bytes" not in d["steps"]["total"]
    jsonschema.validate(d, contract_json_schema())
    loaded = Dag.from_dict(json.dumps(d))
    assert loaded.steps["rows"].max_in_flight_bytes == 2 * 2**20
    assert loaded.steps["total"].max_in_flight_bytes is None
    assert loaded.to_dict() == d
    assert "max_in_flight_bytes" not in build(None).to_dict()["steps"]["rows"]


def test_golden_example_carries_it():
    """The fanout example sets it; its contract (and golden file) carry it."""
    node = example("fanout").dag.steps["numbers"]
    assert node.max_in_flight_bytes == 2**20
    assert Dag.from_dict(example("fanout").to_dict()).steps["numbers"].max_in_flight_bytes \
        == 2**20


@pytest.mark.parametrize("bad", [0, -1, "1MiB", 1.5])
def test_contract_refuses_bad_value(bad):
    """A hand-edited contract with a bound that is not a positive int does not load."""
    d = build(4096).to_dict()
    d["steps"]["rows"]["max_in_flight_bytes"] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, contract_json_schema())
    with pytest.raises(ContractLoadError):
        Dag.from_dict(d)


class Sub(NamedTuple):
    m: int


def to_sub(n: int) -> Sub:
    return Sub(m=n)


def parts(m: int) -> Iterator[int]:
    yield from range(m)


def summed(parts: Iterator[int]) -> int:
    return sum(parts)


def test_include_carries_it():
    """A step of an included pipeline keeps its byte bound, renamed into the parent,
    in the node and in the contract; a bad value is reported in the sub-pipeline."""
    sub = pipeline(name="sub", params=Sub, exports="summed", steps=[
        step("parts", fn=parts, max_in_flight=4, max_in_flight_bytes="1KiB"),
        step("summed", fn=summed)])
    root = pipeline(name="root", params=P, steps=[include("inner", fn=to_sub, pipeline=sub)])
    assert root.dag.steps["inner__parts"].max_in_flight_bytes == 1024
    d = root.to_dict()
    assert d["steps"]["inner__parts"]["max_in_flight_bytes"] == 1024
    assert "max_in_flight_bytes" not in d["steps"]["inner__adapter"]
    with pytest.raises(PipelineDefinitionError, match="Pipeline 'sub', step 'parts'"):
        pipeline(name="sub", params=Sub, exports="summed", steps=[
            step("parts", fn=parts, max_in_flight=4, max_in_flight_bytes="lots"),
            step("summed", fn=summed)])
