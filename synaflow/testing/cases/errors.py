"""Error policies: CONTINUE, STOP, thresholds, producer failures, output-kind checks."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ...core.definition import step
from ...core.exceptions import PipelineStopException, ThresholdExceededException
from ...core.types import OnError
from ..case import Case, make


class Ids(NamedTuple):
    ids: list[int]


def check(id: int) -> int:
    if id % 3 == 0:
        raise ValueError(f"bad id {id}")
    return id


def good(check: list[int]) -> list[int]:
    return check


def each_continue():
    return make("each_continue", Ids, [step("check", fn=check), step("good", fn=good)])


def each_stop():
    return make("each_stop", Ids, [step("check", fn=check, on_error=OnError.STOP),
                                   step("good", fn=good)])


def lazy_total(check: Iterator[int]) -> int:
    return sum(check)


def threshold(absolute=None, pct=None, lazy=True):
    def build():
        consumer = step("lazy_total", fn=lazy_total) if lazy else step("good", fn=good)
        return make(f"threshold_{absolute}_{pct}_{lazy}", Ids, [
            step("check", fn=check, error_threshold_absolute=absolute,
                 error_threshold_pct=pct), consumer])
    return build


def explode(ids: list[int]) -> int:
    raise ConnectionError("gateway down")


def survivor(ids: list[int]) -> int:
    return len(ids)


def after(explode: int) -> int:
    return explode + 1


def all_policy(policy: OnError):
    def build():
        return make(f"all_{policy.value}", Ids, [
            step("explode", fn=explode, on_error=policy), step("after", fn=after),
            step("survivor", fn=survivor)])
    return build


def grade(id: int) -> int:
    raise ThresholdExceededException("grade", error_count=1, success_count=0)


def manual_threshold():
    return make("manual_threshold", Ids, [step("grade", fn=grade)])


def flaky(ids: list[int]) -> Iterator[int]:
    for i in ids:
        if i == 4:
            raise RuntimeError("source broke")
        yield i


def prefix_sum(flaky: Iterator[int]) -> int:
    return sum(flaky)


def producer_failure(policy: OnError):
    def build():
        return make(f"producer_failure_{policy.value}", Ids, [
            step("flaky", fn=flaky, on_error=policy), step("prefix_sum", fn=prefix_sum)])
    return build


def collected_sum(flaky: list[int]) -> int:
    return sum(flaky)


def producer_failure_materialized(policy: OnError):
    """The stream fails while it is collected for its consumer: the producer's error
    materializer is still called, once, also when STOP ends the run (0.32.4)."""
    def build():
        return make(f"producer_failure_materialized_{policy.value}", Ids, [
            step("flaky", fn=flaky, on_error=policy), step("collected_sum", fn=collected_sum)])
    return build


def liar(ids: list[int]) -> int:
    return iter(ids)  # type: ignore[return-value]


def after_liar(liar: int) -> int:
    return liar


def output_kind():
    return make("output_kind", Ids, [step("liar", fn=liar), step("after_liar", fn=after_liar),
                                     step("survivor", fn=survivor)])


def all_raises_threshold(ids: list[int]) -> int:
    raise ThresholdExceededException("all_raises_threshold", error_count=2, success_count=1)


def all_threshold():
    return make("all_threshold", Ids, [step("all_raises_threshold", fn=all_raises_threshold)])


IDS = Ids([1, 2, 3, 4, 5, 6])

CASES = [
    Case("each_continue", each_continue, IDS, {"good": [1, 2, 4, 5]},
         status="completed_with_errors",
         errors=[("check", "ValueError", 2, 1), ("check", "ValueError", 4, 2)]),
    Case("each_stop", each_stop, IDS, raises=PipelineStopException,
         errors=[("check", "ValueError", 2, 1)]),
    Case("threshold_absolute_lazy", threshold(absolute=2), IDS,
         raises=ThresholdExceededException),
    Case("threshold_pct_materialized", threshold(pct=0.3, lazy=False), IDS,
         raises=ThresholdExceededException),
    Case("threshold_not_reached", threshold(absolute=3), IDS, {"lazy_total": 12},
         status="completed_with_errors"),
    Case("all_continue_skips", all_policy(OnError.CONTINUE), IDS, {"survivor": 6},
         status="completed_with_errors", errors=[("explode", "ConnectionError", 0, 1)]),
    Case("all_stop", all_policy(OnError.STOP), IDS, raises=PipelineStopException,
         errors=[("explode", "ConnectionError", 0, 1)]),
    Case("manual_threshold_in_each", manual_threshold, Ids([1, 2]), {"grade": []},
         status="completed_with_errors",
         errors=[("grade", "InvalidThresholdRaiseInEACHStep", 0, 1),
                 ("grade", "InvalidThresholdRaiseInEACHStep", 0, 2)]),
    Case("producer_failure_continue", producer_failure(OnError.CONTINUE), IDS,
         {"prefix_sum": 6}, status="completed_with_errors",
         errors=[("flaky", "RuntimeError", 3, 1)]),
    Case("producer_failure_stop", producer_failure(OnError.STOP), IDS,
         raises=PipelineStopException, errors=[("flaky", "RuntimeError", 3, 1)]),
    Case("producer_failure_materialized_stop", producer_failure_materialized(OnError.STOP),
         IDS, raises=PipelineStopException, errors=[("flaky", "RuntimeError", 3, 1)]),
    Case("producer_failure_materialized_continue",
         producer_failure_materialized(OnError.CONTINUE), IDS, {"collected_sum": 6},
         status="completed_with_errors", errors=[("flaky", "RuntimeError", 3, 1)]),
    Case("output_kind_mismatch", output_kind, IDS, {"survivor": 6},
         status="completed_with_errors", errors=[("liar", "TypeError", 0, 1)]),
    Case("all_step_raises_threshold", all_threshold, IDS, raises=ThresholdExceededException),
]
