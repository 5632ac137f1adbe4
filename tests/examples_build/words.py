"""Spec 04 §8.2: async resource, pipeline observer, threshold, fan-out."""
from collections.abc import AsyncGenerator, AsyncIterator
from typing import NamedTuple

from synaflow import Observer, pipeline, step


class Params(NamedTuple):
    words: list[str]


class Store:
    def __init__(self) -> None:
        self.saved: list[str] = []


def open_store() -> Store:
    return Store()


async def trace(ctx) -> None:
    print("event", ctx.event.value, getattr(ctx, "step_name", "-"))


async def tokens(words: list[str]) -> AsyncGenerator[str, None]:
    for w in words:
        yield w.strip()


async def shout(token: str, store: Store) -> str:
    if not token:
        raise ValueError("empty token")
    store.saved.append(token)
    return token.upper()


async def tally(tokens: list[str]) -> int:
    return len(tokens)


async def sink(shout: AsyncIterator[str]) -> None:
    async for s in shout:
        print("sink", s)


words = pipeline(
    name="words",
    params=Params,
    resources={"store": open_store},
    observers=[Observer(trace)],
    steps=[
        step("tokens", fn=tokens, max_in_flight=2),
        step("shout", fn=shout, error_threshold_absolute=3),
        step("tally", fn=tally),
        step("sink", fn=sink),
    ],
)
