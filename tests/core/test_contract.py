"""The JSON contract (spec 04 §4) and its loader: schema, determinism, round trip, freezing.

``to_dict()`` must validate against the pydantic ``DagContract`` and against the
published JSON Schema (checked with ``jsonschema``), be byte-identical across
processes and hash seeds, and load back with ``Dag.from_dict`` in a fresh
process that only has the JSON.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from typing import NamedTuple

import jsonschema
import pytest

from buildkit import EXAMPLES, example, run_python, run_pythons
from synaflow import pipeline, step
from synaflow.core.contract import DagContract, contract_json_schema
from synaflow.core.dag import Dag
from synaflow.core.exceptions import ContractLoadError
from tests.examples_build import pool

MODULES = sorted(EXAMPLES)

TOP_KEYS = ["name", "params", "steps", "resources", "error_materializer", "pipeline_observers",
            "scope_step_totals"]
STEP_KEYS = ["deps", "output", "fn", "on_error", "mode", "materializer", "error_materializer",
             "each_mode_deps", "pipeline", "parent_pipeline", "max_in_flight",
             "needs_materialize_reasons", "observers", "dataset_param_names",
             "error_threshold_absolute", "error_threshold_pct", "output_contract",
             "consumer_contracts", "publish_plan", "fn_kind", "async_stream_deps",
             "pipeline_scope", "step_index_in_scope", "step_total_in_scope"]
ALWAYS_STEP_KEYS = ["deps", "output", "fn", "on_error", "mode", "materializer",
                    "error_materializer", "each_mode_deps", "pipeline", "parent_pipeline",
                    "max_in_flight", "output_contract", "publish_plan", "fn_kind",
                    "pipeline_scope", "step_index_in_scope", "step_total_in_scope"]

DUMP_ALL = (
    "import importlib, json\n"
    "from tests.examples_build import EXAMPLES\n"
    "for m, a in sorted(EXAMPLES.items()):\n"
    "    p = getattr(importlib.import_module('tests.examples_build.' + m), a)\n"
    "    print(json.dumps(p.to_dict(), sort_keys=False))\n"
)


@pytest.fixture(scope="module")
def schema():
    return contract_json_schema()


@pytest.mark.parametrize("module", MODULES)
def test_validates_pydantic(module):
    """to_dict() is an instance of the DagContract model (extra keys forbidden)."""
    d = example(module).to_dict()
    assert DagContract.model_validate(d).model_dump(mode="json", exclude_unset=True) == d


@pytest.mark.parametrize("module", MODULES)
def test_validates_json_schema(module, schema):
    """to_dict() validates against contract_json_schema() with the jsonschema package."""
    jsonschema.validate(example(module).to_dict(), schema)


def test_schema_rejects_garbage(schema):
    """The schema is strict enough to refuse a wrong mode or an unknown key."""
    d = example("weather").to_dict()
    bad = copy.deepcopy(d)
    bad["steps"]["kelvin"]["mode"] = "sometimes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = copy.deepcopy(d)
    bad["steps"]["kelvin"]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("module", MODULES)
def test_key_order(module):
    """Keys of 0.32.4 come first, in 0.32.4's order; our additions follow."""
    d = example(module).to_dict()
    known = [k for k in d if k in TOP_KEYS]
    assert known == [k for k in TOP_KEYS if k in d]
    assert list(d)[:len(known)] == known
    for name, node in d["steps"].items():
        present = [k for k in node if k in STEP_KEYS]
        assert present == [k for k in STEP_KEYS if k in node], name
        assert list(node)[:len(present)] == present, name
        assert set(ALWAYS_STEP_KEYS) <= set(node), name


def test_conditional_keys_omitted():
    """Empty optional keys are left out; each_mode_deps and scope_step_totals stay."""
    d = pipeline(name="tiny", params=pool.Params, steps=[
        step("numbers", fn=pool.numbers), step("total", fn=pool.total)]).to_dict()
    assert "resources" not in d and "pipeline_observers" not in d
    total = d["steps"]["total"]
    for key in ("needs_materialize_reasons", "observers", "dataset_param_names",
                "error_threshold_absolute", "error_threshold_pct", "consumer_contracts",
                "async_stream_deps"):
        assert key not in total, key
    assert total["each_mode_deps"] == [] and d["scope_step_totals"] == {"tiny": 2}


def test_empty_pipeline_contract(schema):
    """A pipeline without steps still has a complete contract."""
    d = pipeline(name="empty", params=pool.Params, steps=[]).to_dict()
    assert d["steps"] == {} and d["scope_step_totals"] == {}
    jsonschema.validate(d, schema)


def test_deterministic_across_hash_seeds():
    """Byte-identical JSON in two fresh processes with PYTHONHASHSEED 1 and 999."""
    first, second = run_pythons([(DUMP_ALL, "1", None), (DUMP_ALL, "999", None)])
    assert first == second
    here = "\n".join(json.dumps(example(m).to_dict(), sort_keys=False) for m in MODULES)
    assert first.strip() == here


def test_rebuild_in_fresh_process():
    """Dag.from_dict(json) in a fresh process rebuilds the same contract, for every example."""
    payload = json.dumps({m: example(m).to_dict() for m in MODULES})
    code = (
        "import json, sys\n"
        "from synaflow.core.dag import Dag\n"
        "data = json.loads(sys.stdin.read())\n"
        "assert not [m for m in sys.modules if m.startswith('tests.examples_build')]\n"
        "out = {m: Dag.from_dict(json.dumps(d)).to_dict() for m, d in data.items()}\n"
        "print(json.dumps(out))\n"
    )
    out = run_python(code, stdin=payload)
    assert json.loads(out) == json.loads(payload)


@pytest.mark.parametrize("module", MODULES)
def test_rebuilt_dag_equivalent(module):
    """In process too: nodes keep functions, modes, bindings and plans."""
    original = example(module).dag
    loaded = Dag.from_dict(original.to_dict())
    assert loaded.to_dict() == original.to_dict()
    assert loaded.get_execution_levels() == original.get_execution_levels()
    for name, node in original.steps.items():
        twin = loaded.steps[name]
        assert getattr(twin.fn, "__wrapped__", twin.fn) is getattr(node.fn, "__wrapped__",
                                                                   node.fn)
        assert twin.fn == node.fn  # an included step's wrapper too (same function, bindings)
        assert (twin.mode, twin.each_mode_deps, twin.bindings) == (
            node.mode, node.each_mode_deps, node.bindings)
        assert twin.publish_plan == node.publish_plan
        assert twin.output == node.output
        assert twin.materializer == node.materializer
    assert dict(loaded.resource_factories) == dict(original.resource_factories)
    assert loaded.params_type is original.params_type


def test_from_dict_accepts_str_and_dict():
    """from_dict takes the dict or its JSON text."""
    d = example("weather").to_dict()
    assert Dag.from_dict(json.dumps(d)).to_dict() == Dag.from_dict(d).to_dict() == d


# -- ContractLoadError ---------------------------------------------------------------------
class LocalParams(NamedTuple):
    n: int = 1


def _closure():
    def inner(numbers: list[int]) -> int:
        return len(numbers)

    return inner


def _with_total(fn):
    return pipeline(name="load", params=pool.Params,
                    steps=[step("numbers", fn=pool.numbers), step("total", fn=fn)]).to_dict()


def _ref_swapped(ref):
    d = _with_total(pool.total)
    d["steps"]["total"]["fn_ref"] = ref
    return d


LOAD_ERRORS = [
    ("lambda", lambda: _with_total(lambda numbers: 1), ["step 'total'", "'<lambda>'"]),
    ("closure", lambda: _with_total(_closure()), ["step 'total'", "'inner'"]),
    ("missing_module", lambda: _ref_swapped("no_such_module_xyz:total"),
     ["step 'total'", "'no_such_module_xyz:total'", "ModuleNotFoundError"]),
    ("missing_attribute", lambda: _ref_swapped("tests.examples_build.pool:gone"),
     ["step 'total'", "'tests.examples_build.pool:gone'"]),
]


@pytest.mark.parametrize("make, phrases", [r[1:] for r in LOAD_ERRORS],
                         ids=[r[0] for r in LOAD_ERRORS])
def test_load_error_names_step(make, phrases):
    """ContractLoadError names the pipeline, the step and the reference that failed."""
    with pytest.raises(ContractLoadError) as info:
        Dag.from_dict(make())
    text = str(info.value)
    assert "pipeline 'load'" in text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"


def test_load_error_not_a_contract():
    """Anything that is not a contract, or another version, is refused clearly."""
    with pytest.raises(ContractLoadError, match="not a SynaFlow contract"):
        Dag.from_dict({"name": "x"})
    d = example("weather").to_dict()
    d["contract_version"] = 99
    with pytest.raises(ContractLoadError, match="contract_version 99"):
        Dag.from_dict(d)


def test_load_error_observer_lambda():
    """An observer without an importable reference is a ContractLoadError too."""
    from synaflow import Observer

    d = pipeline(name="load", params=pool.Params, observers=[Observer(lambda ctx: None)],
                 steps=[step("numbers", fn=pool.numbers), step("total", fn=pool.total)]
                 ).to_dict()
    with pytest.raises(ContractLoadError, match="observer"):
        Dag.from_dict(d)


# -- frozen --------------------------------------------------------------------------------
def test_dag_is_frozen():
    """Dag attributes cannot be assigned; its mappings refuse mutation."""
    dag = example("weather").dag
    with pytest.raises(dataclasses.FrozenInstanceError):
        dag.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        dag.steps["x"] = dag.steps["kelvin"]
    with pytest.raises(TypeError):
        dag["x"] = dag.steps["kelvin"]
    with pytest.raises(TypeError):
        del dag.steps["kelvin"]
    with pytest.raises(TypeError):
        dag.pop("kelvin")
    with pytest.raises(TypeError):
        dag.steps.update({})
    with pytest.raises(TypeError):
        dag.params["limit"] = str
    assert list(dag.steps) == ["readings", "kelvin", "summary"]


def test_node_is_frozen():
    """DagNode fields cannot be assigned; its collections are tuples or frozen maps."""
    node = example("weather").dag.steps["kelvin"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.mode = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        node.deps["extra"] = int
    with pytest.raises(TypeError):
        node.dataset_param_names.clear()
    assert isinstance(node.each_mode_deps, tuple)
    assert isinstance(node.consumer_contracts, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.publish_plan.max_in_flight = 9  # type: ignore[misc]


def test_definitions_are_frozen():
    """pipeline/step definitions reject attribute assignment after creation."""
    p = example("weather")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "renamed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.steps[0].name = "renamed"  # type: ignore[misc]


def test_dag_pickles():
    """The compiled Dag survives pickling (Ray ships it to workers)."""
    import pickle

    dag = example("report").dag
    assert pickle.loads(pickle.dumps(dag)).to_dict() == dag.to_dict()
