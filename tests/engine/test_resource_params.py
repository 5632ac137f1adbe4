"""Resource factories read params, wired at build time (issue 24, item 4).

Before, ``resources={"db": db}`` with ``def db(db_path: str)`` passed ``pipeline(...)``
and failed at run time with a raw TypeError from inside the runner. Now a factory's
parameters are wired from the params fields by name and type like a step's, so a
database path can be a param, and one that cannot be wired is a build error naming
the resource and the parameter.
"""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from synaflow import (ExecutionOverrides, PipelineDefinitionError, async_run, include,
                      pipeline, run, step)
from synaflow.core.dag import Dag


class Lookup(NamedTuple):
    db_path: str
    hosts: list[str]
    timeout: float = 2.0


@contextlib.contextmanager
def db(db_path: str, timeout: float) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db_path, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


def seeded(db_path: str) -> str:
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("create table if not exists owners (host text, owner text)")
        conn.executemany("insert into owners values (?, ?)", [("a", "ann"), ("b", "bob")])
        conn.commit()
    return db_path


def owner_of(hosts: str, db: sqlite3.Connection) -> str:
    row = db.execute("select owner from owners where host = ?", (hosts,)).fetchone()
    return f"{hosts}:{row[0] if row else '?'}"


def report(owner_of: list[str]) -> str:
    return ",".join(owner_of)


def lookup_pipeline(name: str = "lookup"):
    return pipeline(name=name, params=Lookup, resources={"db": db}, steps=[
        step("owner_of", fn=owner_of),
        step("report", fn=report),
    ])


def ray_serialize(p, params):
    from ray import cloudpickle

    from synaflow.distributed import ray_run

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack test files
    return ray_run(p, params, debug="serialize")


RUNNERS = {"sync": run, "async": lambda p, params: asyncio.run(async_run(p, params)),
           "ray-serialize": ray_serialize}


@pytest.mark.parametrize("runner_name", list(RUNNERS))
def test_factory_reads_params(runner_name, tmp_path):
    path = seeded(str(tmp_path / "owners.db"))
    result = RUNNERS[runner_name](lookup_pipeline(), Lookup(db_path=path, hosts=["a", "b", "c"]))
    assert result.outputs == {"report": "a:ann,b:bob,c:?"}


def test_wiring_is_in_the_contract(tmp_path):
    p = lookup_pipeline()
    assert dict(p.dag.resource_params["db"]) == {"db_path": "db_path", "timeout": "timeout"}
    data = p.dag.to_dict()
    assert data["resource_params"] == {"db": {"db_path": "db_path", "timeout": "timeout"}}
    loaded = Dag.from_dict(data)
    assert dict(loaded.resource_params["db"]) == {"db_path": "db_path", "timeout": "timeout"}
    path = seeded(str(tmp_path / "o.db"))
    assert run(loaded, Lookup(db_path=path, hosts=["b"])).outputs == {"report": "b:bob"}


def test_plural_field_feeds_singular_parameter():
    """Synonyms as for steps: a ``host`` parameter reads the ``hosts`` field."""
    def first(hosts: list[str]) -> str:
        return hosts[0]

    def with_tag(first: str, tag: str) -> str:
        return first + "@" + tag

    def tag(host: list[str], db_path: str) -> str:
        return f"{len(host)}:{db_path}"

    p = pipeline(name="syn", params=Lookup, resources={"tag": tag},
                 steps=[step("first", fn=first), step("with_tag", fn=with_tag)])
    assert dict(p.dag.resource_params["tag"]) == {"host": "hosts", "db_path": "db_path"}
    assert run(p, Lookup(db_path="x", hosts=["a", "b"])).outputs == {"with_tag": "a@2:x"}


def test_parameter_no_field_provides_is_a_build_error():
    def cache(cache_dir: str) -> dict:
        return {}

    def use(cache: dict, hosts: list[str]) -> int:
        return len(cache)

    with pytest.raises(PipelineDefinitionError) as info:
        pipeline(name="cached", params=Lookup, resources={"cache": cache},
                 steps=[step("use", fn=use)])
    text = str(info.value)
    assert text.startswith("Pipeline 'cached', resource 'cache', parameter 'cache_dir': ")
    assert "no params field of Lookup provides it" in text
    assert "Fix: add a field 'cache_dir: str' to Lookup, or give the parameter a default" in text
    assert info.value.param_name == "cache_dir"


def test_parameter_of_the_wrong_type_is_a_build_error():
    def pool(timeout: int) -> dict:
        return {}

    def use(pool: dict, hosts: list[str]) -> int:
        return len(pool)

    with pytest.raises(PipelineDefinitionError, match=r"Pipeline 'typed', resource 'pool', "
                       r"parameter 'timeout': expects int but params field 'timeout' is float"):
        pipeline(name="typed", params=Lookup, resources={"pool": pool},
                 steps=[step("use", fn=use)])


def test_parameter_with_default_may_stay_unwired():
    def pool(size: int = 4) -> dict:
        return {"size": size}

    def use(pool: dict, hosts: list[str], db_path: str, timeout: float) -> int:
        return pool["size"]

    p = pipeline(name="dflt", params=Lookup, resources={"pool": pool},
                 steps=[step("use", fn=use)])
    assert dict(p.dag.resource_params.get("pool", {})) == {}
    assert run(p, Lookup(db_path="x", hosts=[])).outputs == {"use": 4}


def test_an_override_is_called_without_arguments(tmp_path):
    """Overrides replace the factory as in 0.32.4: a callable is called with none."""
    path = seeded(str(tmp_path / "o.db"))
    p = lookup_pipeline()
    overrides = ExecutionOverrides.from_production(p)
    overrides.resources["db"] = lambda: sqlite3.connect(path)
    assert run(p, Lookup(db_path="/nonexistent/x.db", hosts=["a"]), overrides).outputs == \
        {"report": "a:ann"}


def test_fields_read_by_a_factory_are_used():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # db_path and timeout are read by the factory only
        lookup_pipeline("quiet")


class Outer(NamedTuple):
    db_path: str
    hosts: list[str]
    timeout: float = 1.0


def known(hosts: list[str], db: sqlite3.Connection) -> int:
    rows = db.execute("select host from owners").fetchall()
    return sum(1 for (host,) in rows if host in hosts)


def test_included_pipelines_factory_reads_the_parents_field(tmp_path):
    """A sub-pipeline's resources are lifted into the parent, so its factory reads the
    parent's params (a per-sub-run value cannot feed a resource shared by the run)."""
    inner = pipeline(name="inner", params=Lookup, resources={"db": db}, exports="known",
                     steps=[step("known", fn=known)])

    def to_lookup(db_path: str, hosts: list[str]) -> Lookup:
        return Lookup(db_path=db_path, hosts=hosts)

    class Plain(NamedTuple):
        hosts: list[str]

    def to_lookup_plain(hosts: list[str]) -> Lookup:
        return Lookup(db_path="x", hosts=hosts)

    with pytest.raises(PipelineDefinitionError, match=r"resource 'db', parameter 'db_path': "
                       r"no params field of Plain provides it"):
        pipeline(name="outer_plain", params=Plain, steps=[
            include("looked", fn=to_lookup_plain, pipeline=inner)])

    path = seeded(str(tmp_path / "o.db"))
    p = pipeline(name="outer", params=Outer, steps=[
        include("looked", fn=to_lookup, pipeline=inner)])
    assert run(p, Outer(db_path=path, hosts=["a", "c"])).all_outputs["looked"] == 1
