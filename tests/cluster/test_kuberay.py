"""The KubeRay manifests in ``cluster/kuberay/`` have the shape KubeRay requires.

There is no Kubernetes API server here, so a small structural checker stands in
for the operator's CRD validation: it reports every problem as a 'path: what'
line. The checker is itself tested on broken copies, so a pass means something.
"""
from __future__ import annotations

import copy
import re
import shlex
from decimal import Decimal
from typing import Any

import pytest
import ray
import yaml

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
SUFFIX = {
    None: 1, "m": Decimal("0.001"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity ('500m', '4Gi', 2) as a number."""
    match = QUANTITY.match(str(value).strip())
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Decimal(match.group(1)) * SUFFIX[match.group(2)]


def _resources_problems(container: dict, path: str) -> list[str]:
    resources = container.get("resources") or {}
    problems = []
    for kind in ("requests", "limits"):
        for name in ("cpu", "memory"):
            if name not in (resources.get(kind) or {}):
                problems.append(f"{path}.resources.{kind}: missing {name}")
    if problems:
        return problems
    for name in ("cpu", "memory"):
        try:
            request = parse_quantity(resources["requests"][name])
            limit = parse_quantity(resources["limits"][name])
        except ValueError as e:
            problems.append(f"{path}.resources: {e}")
            continue
        if request > limit:
            problems.append(f"{path}.resources: {name} request exceeds limit")
    return problems


def _template_problems(group: dict, path: str) -> list[str]:
    containers = (((group.get("template") or {}).get("spec") or {}).get("containers"))
    if not isinstance(containers, list) or not containers:
        return [f"{path}.template.spec.containers: must be a non-empty list"]
    problems = []
    for i, container in enumerate(containers):
        cpath = f"{path}.template.spec.containers[{i}]"
        for key in ("name", "image"):
            if not isinstance(container.get(key), str) or not container[key]:
                problems.append(f"{cpath}.{key}: missing")
        problems += _resources_problems(container, cpath)
    return problems


def _start_params_problems(group: dict, path: str) -> list[str]:
    params = group.get("rayStartParams")
    if not isinstance(params, dict):
        return [f"{path}.rayStartParams: must be a mapping (may be empty)"]
    # The CRD types rayStartParams as map[string]string: 0 must be written "0".
    return [
        f"{path}.rayStartParams.{k}: value must be a string"
        for k, v in params.items()
        if not isinstance(v, str)
    ]


def _worker_group_problems(group: dict, path: str) -> list[str]:
    problems = []
    if not isinstance(group.get("groupName"), str) or not group["groupName"]:
        problems.append(f"{path}.groupName: missing")
    counts = {k: group.get(k) for k in ("replicas", "minReplicas", "maxReplicas")}
    bad = [k for k, v in counts.items() if not isinstance(v, int) or v < 0]
    problems += [f"{path}.{k}: must be a non-negative integer" for k in bad]
    if not bad and not counts["minReplicas"] <= counts["replicas"] <= counts["maxReplicas"]:
        problems.append(f"{path}: need minReplicas <= replicas <= maxReplicas, got {counts}")
    return problems + _start_params_problems(group, path) + _template_problems(group, path)


def cluster_spec_problems(spec: Any, path: str = "spec") -> list[str]:
    """Problems of a RayCluster spec (also RayJob.spec.rayClusterSpec)."""
    if not isinstance(spec, dict):
        return [f"{path}: must be a mapping"]
    problems = []
    if spec.get("rayVersion") != ray.__version__:
        problems.append(f"{path}.rayVersion: {spec.get('rayVersion')!r}, installed Ray is {ray.__version__}")
    head = spec.get("headGroupSpec")
    if not isinstance(head, dict):
        problems.append(f"{path}.headGroupSpec: missing")
    else:
        problems += _start_params_problems(head, f"{path}.headGroupSpec")
        problems += _template_problems(head, f"{path}.headGroupSpec")
    groups = spec.get("workerGroupSpecs")
    if not isinstance(groups, list) or not groups:
        return problems + [f"{path}.workerGroupSpecs: must be a non-empty list"]
    for i, group in enumerate(groups):
        problems += _worker_group_problems(group, f"{path}.workerGroupSpecs[{i}]")
    names = [g.get("groupName") for g in groups]
    if len(set(names)) != len(names):
        problems.append(f"{path}.workerGroupSpecs: duplicate groupName in {names}")
    return problems


def _job_problems(spec: dict) -> list[str]:
    problems = []
    if not isinstance(spec.get("entrypoint"), str) or not spec["entrypoint"].strip():
        problems.append("spec.entrypoint: missing")
    env = spec.get("runtimeEnvYAML")
    if env is not None and not isinstance(yaml.safe_load(env), dict):
        problems.append("spec.runtimeEnvYAML: must hold a YAML mapping")
    if "rayClusterSpec" not in spec and "clusterSelector" not in spec:
        problems.append("spec: needs rayClusterSpec (or clusterSelector)")
    if "rayClusterSpec" in spec:
        problems += cluster_spec_problems(spec["rayClusterSpec"], "spec.rayClusterSpec")
    return problems


def manifest_problems(doc: Any) -> list[str]:
    """Every structural problem KubeRay would reject (or choke on) in ``doc``."""
    if not isinstance(doc, dict):
        return ["<root>: must be a mapping"]
    problems = []
    if doc.get("apiVersion") != "ray.io/v1":
        problems.append(f"apiVersion: {doc.get('apiVersion')!r}, expected 'ray.io/v1'")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.append(f"metadata.name: {name!r} is not a DNS-1123 label")
    kind, spec = doc.get("kind"), doc.get("spec")
    if not isinstance(spec, dict):
        return problems + ["spec: missing"]
    if kind == "RayCluster":
        return problems + cluster_spec_problems(spec)
    if kind == "RayJob":
        return problems + _job_problems(spec)
    return problems + [f"kind: {kind!r}, expected RayCluster or RayJob"]


@pytest.fixture
def raycluster(load_yaml) -> dict:
    return load_yaml("kuberay/raycluster.yaml")


@pytest.fixture
def rayjob(load_yaml) -> dict:
    return load_yaml("kuberay/rayjob.yaml")


def test_raycluster_is_well_formed(raycluster):
    assert raycluster["kind"] == "RayCluster"
    assert manifest_problems(raycluster) == []


def test_rayjob_is_well_formed(rayjob):
    assert rayjob["kind"] == "RayJob"
    assert manifest_problems(rayjob) == []


def test_each_file_is_one_document(cluster_dir):
    """kubectl would apply extra documents silently; keep one per file."""
    for name in ("raycluster.yaml", "rayjob.yaml"):
        text = (cluster_dir / "kuberay" / name).read_text(encoding="utf-8")
        assert len(list(yaml.safe_load_all(text))) == 1, name


def test_rayjob_runs_the_example(rayjob, dockerfile):
    """The job runs examples/wordcount.py from the image's SynaFlow tree.

    Its working_dir must be the directory cluster/Dockerfile copies the tree to:
    the submitter pod (same image as the head) uploads it from there.
    """
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[0] in ("python", "python3") and "examples/wordcount.py" in argv
    env = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    workdirs = [i.args for i in dockerfile if i.keyword == "WORKDIR"]
    assert env["working_dir"] == workdirs[-1]
    assert rayjob["spec"]["shutdownAfterJobFinishes"] is True


def test_manifests_use_one_image(raycluster, rayjob):
    """Head, workers and both manifests run the same SynaFlow image."""
    images = set()
    for spec in (raycluster["spec"], rayjob["spec"]["rayClusterSpec"]):
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            images |= {c["image"] for c in group["template"]["spec"]["containers"]}
    assert len(images) == 1, images


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda d: d.update(apiVersion="ray.io/v1alpha1"), "apiVersion"),
        (lambda d: d["metadata"].update(name="Bad_Name"), "metadata.name"),
        (lambda d: d["spec"].pop("headGroupSpec"), "headGroupSpec: missing"),
        (lambda d: d["spec"]["headGroupSpec"].pop("rayStartParams"), "rayStartParams"),
        (lambda d: d["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),
         "value must be a string"),
        (lambda d: _head(d).pop("image"), "image: missing"),
        (lambda d: _head(d)["resources"].pop("limits"), "resources.limits: missing cpu"),
        (lambda d: _head(d)["resources"]["requests"].update(memory="64Gi"),
         "memory request exceeds limit"),
        (lambda d: d["spec"]["workerGroupSpecs"][0].update(minReplicas=9), "minReplicas <="),
        (lambda d: d["spec"]["workerGroupSpecs"][0].pop("groupName"), "groupName: missing"),
        (lambda d: d["spec"].update(workerGroupSpecs=[]), "workerGroupSpecs: must be"),
    ],
    ids=[
        "api-version", "name", "no-head", "no-start-params", "int-param", "no-image",
        "no-limits", "request-over-limit", "replica-bounds", "no-group-name", "no-workers",
    ],
)
def test_checker_catches_breakage(raycluster, breakage, expected):
    """Each kind of broken RayCluster is reported; the checker is not vacuous."""
    broken = copy.deepcopy(raycluster)
    breakage(broken)
    problems = manifest_problems(broken)
    assert any(expected in p for p in problems), problems


def test_checker_catches_broken_job(rayjob):
    broken = copy.deepcopy(rayjob)
    broken["spec"].pop("entrypoint")
    broken["spec"].pop("rayClusterSpec")
    problems = manifest_problems(broken)
    assert any("entrypoint" in p for p in problems), problems
    assert any("rayClusterSpec" in p for p in problems), problems


def _head(doc: dict) -> dict:
    return doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "text, value",
    [("500m", Decimal("0.5")), ("2", 2), (2, 2), ("4Gi", 4 * 2**30), ("1G", 10**9)],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value
