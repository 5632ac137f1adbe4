"""Example catalog for the ``synaflow`` command line.

    python -m synaflow --catalog examples.catalog list
    python -m synaflow --catalog examples.catalog graph wordcount --format dot
    python -m synaflow --catalog examples.catalog run wordcount --document-count 2000 --delay-ms 1
    python -m synaflow --catalog examples.catalog run report --values 3 --values 4 --normalize
    python -m synaflow --catalog examples.catalog run report --params-file report.yaml --json

(run from the repository root, so that ``examples.catalog`` is importable.)

- ``wordcount``: a generated corpus streamed document by document, tokenised per
  document (EACH) and folded into one ``{word: count}`` dict (ALL).
- ``report``: typed params (``list[int]``, ``float``, ``bool``, ``Optional[str]``,
  ``list[str]``) turned into a small summary; shows the generated typed flags.
- ``flaky``: an EACH step that fails on every ``fail_every``-th item under
  ``OnError.CONTINUE``: the run completes with errors (exit code 0 and a warning).
"""
from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from synaflow import PipelineRegistry, StepMode, pipeline, step

WORDS = ("stream batch step each all contract runner graph token count bounded "
         "flight materialize observer params catalog registry worker").split()


# -- wordcount ------------------------------------------------------------------------------
class Corpus(NamedTuple):
    document_count: int = 200
    words_per_document: int = 40
    seed: int = 1
    delay_ms: float = 0.0  # per document; makes the live progress display visible


def corpus(document_count: int, words_per_document: int, seed: int) -> Iterator[str]:
    """Generate the documents lazily, one at a time."""
    rng = random.Random(seed)
    for _ in range(document_count):
        yield " ".join(rng.choice(WORDS) for _ in range(words_per_document))


def tokens(document: str, delay_ms: float) -> list[str]:
    """Tokenise one document (called once per document)."""
    if delay_ms:
        time.sleep(delay_ms / 1000)
    return document.lower().split()


def counts(tokens: Iterator[list[str]]) -> dict[str, int]:
    """Fold every document's tokens into one count per word."""
    total: Counter[str] = Counter()
    for document_tokens in tokens:
        total.update(document_tokens)
    return dict(sorted(total.items()))


wordcount = pipeline(
    name="wordcount",
    params=Corpus,
    steps=[
        step("documents", fn=corpus),
        step("tokens", fn=tokens, mode=StepMode.EACH, max_in_flight=8),
        step("counts", fn=counts),
    ],
    description="Word counts over a generated corpus.",
)


# -- report ---------------------------------------------------------------------------------
@dataclass
class ReportParams:
    values: list[int]
    scale: float = 1.0
    normalize: bool = False
    title: Optional[str] = None
    tags: list[str] = field(default_factory=list)


def scaled(values: list[int], scale: float, normalize: bool) -> list[float]:
    """Scale the values; with ``normalize`` they also sum to 1."""
    out = [v * scale for v in values]
    total = sum(out)
    return [v / total for v in out] if normalize and total else out


def summary(scaled: list[float], title: Optional[str], tags: list[str]) -> dict:
    """A small report of the scaled values."""
    return {"title": title or "untitled", "tags": tags, "count": len(scaled),
            "total": round(sum(scaled), 6), "max": max(scaled, default=None)}


report = pipeline(name="report", params=ReportParams,
                  steps=[step("scaled", fn=scaled), step("summary", fn=summary)])


# -- flaky ----------------------------------------------------------------------------------
class Batch(NamedTuple):
    items: int = 20
    fail_every: int = 5


def numbers(items: int) -> list[int]:
    return list(range(1, items + 1))


def checked(number: int, fail_every: int) -> int:
    """Fails for every ``fail_every``-th number (the failures are logged, the run goes on)."""
    if fail_every and number % fail_every == 0:
        raise ValueError(f"{number} is a multiple of {fail_every}")
    return number


def total(checked: list[int]) -> int:
    return sum(checked)


flaky = pipeline(name="flaky", params=Batch,
                 steps=[step("numbers", fn=numbers),
                        step("checked", fn=checked, mode=StepMode.EACH),
                        step("total", fn=total)])


catalog = PipelineRegistry()
catalog.add(wordcount)
catalog.add(report)
catalog.add(flaky)
