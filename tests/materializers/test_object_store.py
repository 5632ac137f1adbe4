"""The object-store and pickled materializers on the local runners, and in the contract.

On the sync and async runners the object-store materializer is the memory one
(readers shaped one by one); the pickled one stores ``bytes`` and readers unpickle.
"""
from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import numpy as np
import pytest

from synaflow import async_run, pipeline, run, step
from synaflow.core.dag import Dag
from synaflow.core.default_materializers import load_ref
from synaflow.materializers import (ObjectStoreMaterializer, PickledMaterializer,
                                    object_store_materializer, pickled_materializer)


class Text(NamedTuple):
    text: str


def words(text: str) -> Iterator[str]:
    yield from text.split()


def distinct(words: set[str]) -> list[str]:
    return sorted(words)


def ordered(words: tuple[str, ...]) -> str:
    return "-".join(words)


def lazily(words: Iterator[str]) -> int:
    return sum(1 for _ in words)


async def awords(text: str) -> AsyncIterator[str]:
    for word in text.split():
        yield word


async def adistinct(awords: set[str]) -> list[str]:
    return sorted(awords)


async def acount(awords: list[str]) -> int:
    return len(awords)


def shaped(materializer=None):
    return pipeline(name="shaped", params=Text, steps=[
        step("words", fn=words, materializer=materializer), step("distinct", fn=distinct),
        step("ordered", fn=ordered), step("lazily", fn=lazily)])


EXPECTED = {"distinct": ["a", "b"], "ordered": "b-a-b", "lazily": 3}


@pytest.mark.parametrize("factory", [object_store_materializer, pickled_materializer])
def test_sync_runner_shapes_per_reader(factory):
    """Readers asking for a set, a tuple and an iterator each get their own shape,
    exactly as from the memory materializer."""
    assert run(shaped(), Text("b a b")).outputs == EXPECTED
    assert run(shaped(factory()), Text("b a b")).outputs == EXPECTED


@pytest.mark.parametrize("factory", [object_store_materializer, pickled_materializer])
def test_async_runner(factory):
    """In an async pipeline the materializer collects the async stream."""
    p = pipeline(name="aw", params=Text, steps=[
        step("awords", fn=awords, materializer=factory()), step("adistinct", fn=adistinct),
        step("acount", fn=acount)])
    out = asyncio.run(async_run(p, Text("b a b"))).outputs
    assert out == {"adistinct": ["a", "b"], "acount": 3}


def test_pickled_stores_bytes():
    """The published value is the pickle; readers get the value back."""
    p = pipeline(name="frozen", params=Text, steps=[
        step("words", fn=words, materializer=pickled_materializer(), force_materialize=True)])
    stored = run(p, Text("x y")).outputs["words"]
    assert isinstance(stored, bytes) and pickle.loads(stored) == ["x", "y"]
    freeze = p.dag.steps["words"].materializer
    array = np.arange(4)
    back = freeze.__synaflow_reshape__(freeze(array), "as_is", np.ndarray)
    assert back is not array and back.flags.writeable and list(back) == [0, 1, 2, 3]


def test_contract_round_trip():
    """Both travel in the JSON contract and load back in another process."""
    for factory, cls in ((object_store_materializer, ObjectStoreMaterializer),
                         (pickled_materializer, PickledMaterializer)):
        p = shaped(factory())
        entry = p.to_dict()["steps"]["words"]
        assert entry["materializer"] == factory.__name__
        loaded = Dag.from_dict(p.to_dict()).steps["words"].materializer
        assert isinstance(loaded, cls) and isinstance(load_ref(entry["materializer_ref"]), cls)
        assert run(Dag.from_dict(p.to_dict()), Text("b a b")).outputs == EXPECTED


def test_marks_the_object_store_path():
    """The Ray runner recognises the object-store materializer by its marker."""
    materializer = shaped(object_store_materializer()).dag.steps["words"].materializer
    assert materializer.__synaflow_object_store__ is True
    assert not getattr(shaped(pickled_materializer()).dag.steps["words"].materializer,
                       "__synaflow_object_store__", False)
