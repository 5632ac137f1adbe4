"""Streams: lockstep chains, fan-out, fan-in zip, bounded hand-off, shapes."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Optional

from ...core.definition import step
from ..case import Case, make


class N(NamedTuple):
    n: int = 5


def numbers(n: int) -> Iterator[int]:
    yield from range(1, n + 1)


def doubled(number: int) -> int:
    return number * 2


def summed(doubled: Iterator[int]) -> int:
    return sum(doubled)


def gen_each_sum(max_in_flight: int = 1):
    def build():
        return make(f"gen_each_sum_{max_in_flight}", N, [
            step("numbers", fn=numbers, max_in_flight=max_in_flight),
            step("doubled", fn=doubled, max_in_flight=max_in_flight),
            step("summed", fn=summed)])
    return build


def evens(numbers: Iterator[int]) -> Iterator[int]:
    for x in numbers:
        if x % 2 == 0:
            yield x


def count_evens(evens: Iterator[int]) -> int:
    return sum(1 for _ in evens)


def all_chain():
    return make("all_chain", N, [step("numbers", fn=numbers), step("evens", fn=evens),
                                 step("count_evens", fn=count_evens)])


def low(numbers: Iterator[int]) -> int:
    return min(numbers)


def high(numbers: Iterator[int]) -> int:
    return max(numbers)


def span(low: int, high: int) -> tuple:
    return (low, high)


def fanout_lazy(mif: int):
    def build():
        return make(f"fanout_lazy_{mif}", N, [
            step("numbers", fn=numbers, max_in_flight=mif), step("low", fn=low),
            step("high", fn=high), step("span", fn=span)])
    return build


def incremented(number: int) -> int:
    return number + 1


def collected(numbers: list[int], incremented: list[int]) -> tuple:
    return (numbers, incremented)


def fanout_mixed():
    return make("fanout_mixed", N, [step("numbers", fn=numbers),
                                    step("incremented", fn=incremented),
                                    step("collected", fn=collected)])


class Two(NamedTuple):
    short: int = 3
    long: int = 5


def lefts(short: int) -> Iterator[int]:
    yield from range(short)


def rights(long: int) -> Iterator[int]:
    yield from range(10, 10 + long)


def pair(left: Optional[int], right: Optional[int]) -> str:
    return f"{left}-{right}"


def joined(pair: list[str]) -> list[str]:
    return pair


def fanin_zip():
    return make("fanin_zip", Two, [step("lefts", fn=lefts), step("rights", fn=rights),
                                   step("pair", fn=pair), step("joined", fn=joined)])


def distinct(numbers: set[int]) -> str:
    return type(numbers).__name__


def frozen(numbers: tuple[int, ...]) -> str:
    return type(numbers).__name__


def kinds(distinct: str, frozen: str) -> tuple:
    return (distinct, frozen)


def shapes():
    """Each materializing consumer gets its declared collection type (0.32.4 gave every
    consumer the first consumer's type)."""
    return make("shapes", N, [step("numbers", fn=numbers), step("distinct", fn=distinct),
                              step("frozen", fn=frozen), step("kinds", fn=kinds)])


def keyed(n: int) -> Iterator[tuple[str, int]]:
    for i in range(n):
        yield (f"k{i}", i)


def lookup(keyed: dict[str, int]) -> int:
    return keyed["k1"]


def dict_consumer():
    return make("dict_consumer", N, [step("keyed", fn=keyed), step("lookup", fn=lookup)])


def forced(n: int) -> Iterator[int]:
    yield from range(n)


def force_terminal():
    return make("force_terminal", N, [step("forced", fn=forced, force_materialize=True)])


def audit(numbers: Iterator[int]) -> None:
    for _ in numbers:
        pass


def hidden_terminal():
    return make("hidden_terminal", N, [step("numbers", fn=numbers), step("_audit", fn=audit),
                                       step("low", fn=low)])


class Words(NamedTuple):
    weights: dict[str, int]


def weight(weight: str) -> str:
    return weight.upper()


def each_over_dict():
    return make("each_over_dict", Words, [step("weight_names", fn=weight_names)])


def weight_names(weights: dict[str, int]) -> list[str]:
    return sorted(weights)


def blobs(n: int) -> Iterator[bytes]:
    """Items of 8 + i bytes, except item 3: 40 bytes, more than the bound on its own."""
    for i in range(n):
        yield bytes([i]) * (40 if i == 3 else 8 + i)


def blob_sizes(blobs: Iterator[bytes]) -> list[int]:
    return [len(b) for b in blobs]


def blob_heads(blobs: Iterator[bytes]) -> list[int]:
    return [b[0] for b in blobs]


def blob_size(blob: bytes) -> int:
    return len(blob)


def total_size(blob_size: Iterator[int]) -> int:
    return sum(blob_size)


def byte_bounded(fanout: bool):
    """``max_in_flight_bytes`` (32 bytes, with max_in_flight=8) into two lazy readers or
    one EACH reader: every item, in order, the oversized one included."""
    readers = [step("blob_sizes", fn=blob_sizes), step("blob_heads", fn=blob_heads)] \
        if fanout else [step("blob_size", fn=blob_size), step("total_size", fn=total_size)]

    def build():
        return make(f"byte_bounded_{'fanout' if fanout else 'chain'}", N, [
            step("blobs", fn=blobs, max_in_flight=8, max_in_flight_bytes=32), *readers])
    return build


def unannotated(numbers, doubled) -> tuple:  # noqa: ANN001 (no annotations on purpose)
    return type(numbers).__name__, numbers, type(doubled).__name__, doubled


def unannotated_barrier():
    """Unannotated consumers of a stream and of an EACH step are barriers: the upstream
    steps run and each receives the collected list (0.32.4 could not plan them)."""
    return make("unannotated_barrier", N, [step("numbers", fn=numbers),
                                           step("doubled", fn=doubled),
                                           step("unannotated", fn=unannotated)])


def summary_of(n: int) -> dict:
    return {"n": n}


def tagged(value) -> tuple:  # noqa: ANN001 (a dict or a collected stream)
    return "tagged", value if isinstance(value, dict) else list(value)


def terminal_materializer():
    """A materializer named on a terminal step is applied, to a value and to a stream,
    without force_materialize (it used to be skipped silently)."""
    return make("terminal_materializer", N, [
        step("summary_of", fn=summary_of, materializer=tagged),
        step("numbers", fn=numbers, materializer=tagged)])


CASES = [
    Case("terminal_materializer", terminal_materializer, N(2),
         {"summary_of": ("tagged", {"n": 2}), "numbers": ("tagged", [1, 2])}),
    Case("unannotated_barrier", unannotated_barrier, N(3),
         {"unannotated": ("list", [1, 2, 3], "list", [2, 4, 6])}),
    Case("gen_each_sum", gen_each_sum(1), N(5), {"summed": 30}),
    Case("gen_each_sum_bounded", gen_each_sum(3), N(7), {"summed": 56}),
    Case("all_chain", all_chain, N(9), {"count_evens": 4}),
    Case("fanout_lazy", fanout_lazy(1), N(6), {"span": (1, 6)}),
    Case("fanout_lazy_bounded", fanout_lazy(4), N(6), {"span": (1, 6)}),
    Case("fanout_mixed", fanout_mixed, N(3), {"collected": ([1, 2, 3], [2, 3, 4])}),
    Case("fanin_zip", fanin_zip, Two(), {"joined": ["0-10", "1-11", "2-12", "None-13",
                                                         "None-14"]}),
    Case("shapes", shapes, N(4), {"kinds": ("set", "tuple")}),
    Case("dict_consumer", dict_consumer, N(3), {"lookup": 1}),
    Case("force_terminal", force_terminal, N(3), {"forced": [0, 1, 2]}),
    Case("hidden_terminal", hidden_terminal, N(4), {"low": 1}),
    Case("each_over_dict", each_over_dict, Words({"b": 1, "a": 2}),
         {"weight_names": ["a", "b"]}),
    Case("byte_bounded_fanout", byte_bounded(True), N(7),
         {"blob_sizes": [8, 9, 10, 40, 12, 13, 14], "blob_heads": list(range(7))}),
    Case("byte_bounded_chain", byte_bounded(False), N(7), {"total_size": 106}),
]

