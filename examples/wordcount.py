"""Word counts over a generated corpus, with the tokenising step scaled out on Ray.

    python examples/wordcount.py                 # embedded local Ray
    python examples/wordcount.py --runner sync   # one process, no Ray
    python examples/wordcount.py --address ray://head:10001

The corpus is generated (no download): ``documents`` streams texts, ``tokens``
(EACH) tokenises each document — the expensive part, scaled out across Ray workers —,
and ``counts`` (ALL) folds the token lists into the most common words.
"""
from __future__ import annotations

import argparse
import random
import re
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

from synaflow import pipeline, step

WORDS = ("ray arrow stream batch actor task object store pipeline step each all lockstep "
         "bounded handoff flight materialize contract build run worker cluster node").split()


class Corpus(NamedTuple):
    document_count: int = 400
    words_per_document: int = 300
    top: int = 5
    seed: int = 7


def documents(document_count: int, words_per_document: int, seed: int) -> Iterator[str]:
    """Generate the corpus lazily: one pseudo-random document at a time."""
    rng = random.Random(seed)
    for _ in range(document_count):
        yield " ".join(rng.choice(WORDS) for _ in range(words_per_document))


def tokens(document: str) -> list[str]:
    """Tokenise one document (runs once per document, in parallel on Ray)."""
    return [w.lower() for w in re.findall(r"[A-Za-z]+", document) if len(w) > 2]


def counts(tokens: Iterator[list[str]], top: int) -> list[tuple[str, int]]:
    """Fold every document's tokens into the ``top`` most common words."""
    total: Counter[str] = Counter()
    for document_tokens in tokens:
        total.update(document_tokens)
    return total.most_common(top)


wordcount = pipeline(
    name="wordcount",
    params=Corpus,
    steps=[
        step("documents", fn=documents, max_in_flight=16),
        step("tokens", fn=tokens, max_in_flight=16),
        step("counts", fn=counts),
    ],
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner", choices=["ray", "sync", "async", "debug"], default="ray")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: "
                        "$RAY_ADDRESS, else an embedded local Ray)")
    parser.add_argument("--documents", type=int, default=Corpus().document_count)
    args = parser.parse_args(argv)
    params = Corpus(document_count=args.documents)
    if args.runner == "sync":
        from synaflow import run
        result = run(wordcount, params)
    elif args.runner == "async":
        import asyncio
        from synaflow import async_run
        result = asyncio.run(async_run(wordcount, params))
    else:
        from synaflow.distributed import ray_run
        result = ray_run(wordcount, params, address=args.address,
                         debug=args.runner == "debug")
    print(f"{result.status} in {result.wall_time_s:.2f} s "
          f"({result.steps['tokens'].items_out} documents tokenised)")
    for word, n in result.outputs["counts"]:
        print(f"{word:>12} {n}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
