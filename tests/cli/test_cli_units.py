"""Unit tests of the CLI building blocks: params helpers, argument pre-scan, graph."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional, Union

import pytest

from synaflow import StepMode, pipeline, step
from synaflow.cli.app import hoist_catalog, prescan
from synaflow.cli.context import CLIUsageError, ParamsValidationError
from synaflow.cli.graph import graph_of, to_dot, to_mermaid
from synaflow.cli.params import (Assignment, admits_none, build_params, flag_kind,
                                 params_fields, type_label)


# -- params helpers ------------------------------------------------------------------------------------
class NT(NamedTuple):
    a: int
    b: list[str] = []


@dataclasses.dataclass
class DC:
    a: int
    b: list[str] = dataclasses.field(default_factory=list)
    c: str = "c"
    hidden: int = dataclasses.field(default=0, init=False)


@pytest.mark.parametrize("cls", [NT, DC])
def test_params_fields(cls):
    fields = params_fields(cls)
    assert [f.name for f in fields][:2] == ["a", "b"]
    assert "hidden" not in [f.name for f in fields]
    assert fields[0].required and not fields[1].required
    assert fields[1].default() == [] and fields[1].flag == "--b"


def test_default_factory_gives_fresh_values():
    one = build_params(DC, file_values={"a": 1}, direct_values={})
    two = build_params(DC, file_values={"a": 1}, direct_values={})
    assert one.b == [] and one.b is not two.b


@pytest.mark.parametrize("tp,expected", [
    (Optional[int], True), (Union[int, None], True), (int | None, True), (type(None), True),
    (int, False), (Union[int, str], False),
])
def test_admits_none(tp, expected):
    assert admits_none(tp) is expected


@pytest.mark.parametrize("tp,expected", [
    (str, ("scalar", str)), (int, ("scalar", int)), (Optional[float], ("scalar", float)),
    (bytes, ("scalar", bytes)), (bool, ("bool", bool)), (Optional[bool], ("bool", bool)),
    (list[int], ("list", int)), (list[bool], ("list", bool)), (Optional[list[str]],
                                                                 ("list", str)),
    (dict, None), (set[int], None), (tuple[int, ...], None), (list, None), (NT, None),
    (Union[int, str], None), (list[list[int]], None),
])
def test_flag_kind(tp, expected):
    assert flag_kind(tp) == expected


@pytest.mark.parametrize("tp,label", [
    (int, "int"), (Optional[NT], "Optional[NT]"), (list[int], "list[int]"),
    (Union[int, str], "int | str"), (dict[str, list[NT]], "dict[str, list[NT]]"),
    (tuple[int, ...], "tuple[int, ...]"),
])
def test_type_label(tp, label):
    assert type_label(tp) == label


def test_assignment_values():
    fields = {f.name: f for f in params_fields(DC)}
    assert Assignment("a", "3").value_for(fields["a"]) == 3
    assert Assignment("b", '["x"]').value_for(fields["b"]) == ["x"]
    assert Assignment("c", '"7"').value_for(fields["c"]) == "7"
    assert Assignment("c", "not json").value_for(fields["c"]) == "not json"
    with pytest.raises(ParamsValidationError, match=r"--param c=7: field 'c' expects str, and 7 "
                       r"reads as JSON int. Fix: quote it, --param 'c=\"7\"', or use --c 7"):
        Assignment("c", "7").value_for(fields["c"])
    assert Assignment("zz", "{bad").value_for(None) == "{bad"


def test_build_params_errors():
    with pytest.raises(CLIUsageError, match=r"Unknown params field\(s\) for NT: \['z'\]"):
        build_params(NT, file_values={"a": 1, "z": 2}, direct_values={})
    with pytest.raises(CLIUsageError, match=r"Missing required params field\(s\) for NT"):
        build_params(NT, file_values={}, direct_values={})
    with pytest.raises(ParamsValidationError) as info:
        build_params(NT, file_values={"a": "x"}, direct_values={})
    assert info.value.exit_code == 2
    assert str(info.value) == ("invalid params for NT: field 'a': expected int, got 'x' (str, "
                               "which is not read as int: pass the value itself)")


def test_direct_values_beat_file_values():
    assert build_params(NT, file_values={"a": 1, "b": ["f"]},
                        direct_values={"b": ["d"]}) == NT(1, ["d"])


# -- argument pre-scan ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args,module,rest", [
    (["list", "--catalog", "m"], "m", ["--catalog", "m", "list"]),
    (["--catalog=m", "list"], "m", ["--catalog", "m", "list"]),
    (["--catalog", "a", "list", "--catalog", "b"], "b", ["--catalog", "b", "list"]),
    (["list", "--catalog"], None, ["list", "--catalog"]),
    (["list", "--catalog", "--json"], None, ["list", "--catalog", "--json"]),
    (["run", "x", "--", "--catalog", "m"], None, ["run", "x", "--", "--catalog", "m"]),
])
def test_hoist_catalog(args, module, rest):
    assert hoist_catalog(args) == (module, rest)


@pytest.mark.parametrize("args,command,name", [
    (["--catalog", "run", "run", "demo"], "run", "demo"),
    (["run", "--params-file", "p.json", "--no-observers", "demo"], "run", "demo"),
    (["run", "--runner", "async", "--param", "a=1", "demo", "--n", "1"], "run", "demo"),
    (["run", "--n", "3", "demo"], "run", "3"),  # as 0.32.4: typed flags go after NAME
    (["-h"], None, None),
])
def test_prescan(args, command, name):
    scan = prescan(args)
    assert (scan.command, scan.name) == (command, name)


def test_prescan_module_option():
    assert prescan(["validate", "--module", "m:a"]).module_option
    assert not prescan(["validate", "--module", "m:a"]).needs_catalog()
    assert not prescan(["schema"]).needs_catalog()
    assert prescan(["validate"]).needs_catalog()


# -- graph ------------------------------------------------------------------------------------------------
class P(NamedTuple):
    n: int
    label: str = 'say "hi"'


def make(n: int) -> list[int]:
    return list(range(n))


def inc(item: int, db: dict) -> int:
    return item + 1


def show(inc: list[int], label: str) -> str:
    return label


def db() -> dict:
    return {}


GRAPH = pipeline(name='g "1"', params=P, resources={"db": db},
                 steps=[step("items", fn=make), step("inc", fn=inc, mode=StepMode.EACH),
                        step("show", fn=show)])


def test_graph_nodes_and_edges():
    nodes, edges = graph_of(GRAPH.dag)
    assert [(n.id, n.kind, n.label) for n in nodes] == [
        ("p0", "param", "n: int"), ("p1", "param", "label: str"), ("r0", "resource", "db"),
        ("s0", "step", "items"), ("s1", "step", "inc [EACH]"), ("s2", "step", "show")]
    labels = {(e.source, e.target): e.label for e in edges}
    assert labels[("p0", "s0")] == ""
    assert labels[("s0", "s1")] == "each"
    assert labels[("r0", "s1")] == ""
    assert labels[("s1", "s2")] == "materialized"


def test_mermaid_shapes():
    text = to_mermaid(GRAPH.dag)
    assert '    r0[("db")]' in text and '    s1[["inc [EACH]"]]' in text
    assert '    s1 -->|"materialized"| s2' in text


def test_dot_escapes_quotes():
    text = to_dot(GRAPH.dag)
    assert text.startswith('digraph "g \\"1\\"" {')
    assert '    r0 [label="db", shape=cylinder];' in text
