"""The Ray cluster launcher configs in ``cluster/`` are valid for the installed Ray.

``ray up`` validates a config against ``ray-schema.json`` from the ``ray`` package
before it contacts any cloud. These tests run the same check offline, so a config
that Ray would reject fails here first.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler

CONFIGS = ["aws.yaml", "local.yaml"]


@pytest.fixture(scope="module")
def schema() -> dict:
    path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    assert path.is_file(), f"ray no longer ships its launcher schema at {path}"
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(config: dict, schema: dict) -> list[str]:
    """Every schema violation of ``config``, as 'path: message' lines."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = validator_cls(schema).iter_errors(config)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    ]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_matches_ray_schema(name, schema, load_yaml):
    """The config validates against the schema shipped inside ``ray``."""
    assert schema_errors(load_yaml(name), schema) == []


@pytest.mark.parametrize("name", CONFIGS)
def test_missing_provider_is_rejected(name, schema, load_yaml):
    """A copy without ``provider`` fails: the check is not vacuous."""
    broken = copy.deepcopy(load_yaml(name))
    del broken["provider"]
    errors = schema_errors(broken, schema)
    assert any("'provider' is a required property" in e for e in errors), errors


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c.update(max_worker=3), "Additional properties"),
        (lambda c: c["provider"].pop("type"), "'type' is a required property"),
        (lambda c: c.update(setup_commands="pip install x"), "is not of type"),
    ],
    ids=["typo-key", "provider-type", "commands-not-list"],
)
def test_other_breakage_is_rejected(mutate, expected, schema, load_yaml):
    """Typos and wrong types are caught too, not just a missing section."""
    broken = copy.deepcopy(load_yaml("aws.yaml"))
    mutate(broken)
    errors = schema_errors(broken, schema)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize("name", CONFIGS)
def test_ray_up_preprocessing_accepts(name, load_yaml):
    """Ray's own fill-defaults + validate step (what ``ray up`` runs first) passes.

    Beyond the schema this checks that head_node_type names a node type and that
    the node types' min_workers fit under max_workers. It uses Ray's private
    launcher helpers; if they move in a newer Ray, update the import.
    """
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(load_yaml(name)))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_aws_node_types(load_yaml):
    """AWS: a head type and a CPU worker type with sane min/max workers."""
    config = load_yaml("aws.yaml")
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = config["head_node_type"]
    workers = {k: v for k, v in types.items() if k != head}
    assert head in types and workers
    for spec in workers.values():
        assert 0 <= spec["min_workers"] <= spec["max_workers"] <= config["max_workers"]
        assert spec["node_config"]["InstanceType"]
    assert types[head]["resources"].get("CPU") == 0, "keep pipeline steps off the head"


@pytest.mark.parametrize("name", CONFIGS)
def test_nodes_install_synaflow(name, load_yaml):
    """Every node gets SynaFlow with the ray and arrow extras."""
    config = load_yaml(name)
    commands = " ".join(config["setup_commands"])
    assert "synaflow[ray,arrow]" in commands
    assert config["file_mounts"], "the source tree must reach the nodes"


def test_local_provider_shape(load_yaml):
    """local: head_ip/worker_ips given, no node types (the provider makes them)."""
    config = load_yaml("local.yaml")
    provider = config["provider"]
    assert provider["type"] == "local"
    assert provider["head_ip"] and provider["worker_ips"]
    assert "available_node_types" not in config
    assert config["max_workers"] <= len(provider["worker_ips"])


def test_local_config_never_runs_ray_stop(load_yaml):
    """On shared machines `ray stop` kills other people's Ray; local.yaml avoids it."""
    config = load_yaml("local.yaml")
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert config[key], f"{key} must be set, else Ray's defaults (with ray stop) apply"
        assert not any("ray stop" in c for c in config[key])
