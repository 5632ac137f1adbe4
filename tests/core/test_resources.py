"""Resources at build time (spec 07 §2.1, 02 §8).

Deliberate difference: a ``@contextmanager`` factory annotated ``-> Iterator[T]``
provides ``T`` (0.32.4 took the annotation literally, so every consumer of the
resource became an EACH step over it).
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import NamedTuple

import pytest

from buildkit import make_fn, raises_definition
from synaflow import include, pipeline, step


class P(NamedTuple):
    n: int = 1


class Client:
    pass


def open_client() -> Client:
    return Client()


@contextmanager
def client_session() -> Iterator[Client]:
    yield Client()


@asynccontextmanager
async def async_session() -> AsyncIterator[Client]:
    yield Client()


@functools.cache
def shared_client() -> Client:
    return Client()


def build(*steps, resources, **kw):
    return pipeline(name="res", params=P, steps=list(steps), resources=resources, **kw)


def test_resource_in_deps_not_levels():
    """A resource is wired like a producer but is no step (no level, no node)."""
    use = make_fn("use", {"n": int, "client": Client}, int)
    p = build(step("use", fn=use), resources={"client": open_client})
    assert dict(p.dag.steps["use"].deps) == {"n": int, "client": Client}
    assert p.dag.get_execution_levels() == [["use"]]
    assert "client" not in p.dag
    assert p.to_dict()["resources"] == {"client": "Client"}
    assert p.dag.resource_factories["client"] is open_client


def test_no_resources_key_when_none():
    """The "resources" key only appears when there are resources."""
    p = pipeline(name="res", params=P, steps=[step("use", fn=make_fn("use", {"n": int}, int))])
    assert "resources" not in p.to_dict()


FACTORIES = [
    ("plain", open_client, Client),
    ("contextmanager", client_session, Client),       # ours: the yielded type
    ("asynccontextmanager", async_session, Client),
    ("cached", shared_client, Client),
    ("lambda_annotated", None, Client),
]


@pytest.mark.parametrize("factory, provided", [r[1:] for r in FACTORIES],
                         ids=[r[0] for r in FACTORIES])
def test_resource_type(factory, provided):
    """The factory's return annotation is the resource type (yielded type for CMs)."""
    if factory is None:
        factory = make_fn("factory", {}, Client)
    kind = "async" if factory is async_session else "sync"
    use = make_fn("use", {"client": Client}, int, kind=kind)
    p = build(step("use", fn=use), resources={"client": factory})
    assert p.dag.resource_types["client"] is provided
    assert p.dag.steps["use"].mode.value == "all"  # 0.32.4: EACH over the resource
    assert p.dag.steps["use"].each_mode_deps == ()


def test_iterator_resource_is_each():
    """A plain (non-CM) factory returning Iterator[T] is taken literally: EACH over it."""
    def rows() -> Iterator[int]:
        yield from (1, 2)

    use = make_fn("use", {"rows": int}, int)
    p = build(step("use", fn=use), resources={"rows": rows})
    assert p.dag.steps["use"].each_mode_deps == ("rows",)


def test_resource_synonym_match():
    """Resources take part in synonym matching (``client_list`` -> ``client``)."""
    use = make_fn("use", {"clients": Client}, int)
    p = build(step("use", fn=use), resources={"client": open_client})
    assert list(p.dag.steps["use"].deps) == ["client"]
    assert dict(p.dag.steps["use"].dataset_param_names) == {"client": "clients"}


def test_resource_type_checked():
    """A consumer's annotation must accept the resource type."""
    use = make_fn("use", {"client": str}, int)
    raises_definition(lambda: build(step("use", fn=use), resources={"client": open_client}),
                      "expects str but 'client' produces Client", step="use", param="client")


class Sub(NamedTuple):
    v: int


def test_resource_order():
    """Root resources first, then lifted ones in include order."""
    def other() -> Client:
        return Client()

    def leaf(v: int, other: Client) -> int:
        return v

    sub = pipeline(name="sub", params=Sub, resources={"other": other},
                   steps=[step("leaf", fn=leaf)], exports="leaf")

    def to_sub(n: int) -> Sub:
        return Sub(v=n)

    use = make_fn("use", {"client": Client, "inc": int}, int)
    p = pipeline(name="res", params=P, resources={"client": open_client}, steps=[
        include("inc", fn=to_sub, pipeline=sub), step("use", fn=use)])
    assert list(p.dag.resource_factories) == ["client", "other"]
    assert list(p.to_dict()["resources"]) == ["client", "other"]


def test_resource_refs_in_contract():
    """Module-level factories travel as ``module:qualname`` references."""
    use = make_fn("use", {"client": Client}, int)
    d = build(step("use", fn=use), resources={"client": client_session}).to_dict()
    assert d["resource_refs"] == {"client": f"{__name__}:client_session"}
