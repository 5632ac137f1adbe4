"""What a step's output is and where it goes, read from the contract: the same rules
for every runner (moved here from the sync runner, which the Ray runner used to
import them from)."""
from __future__ import annotations

from typing import Any

from ..core.protocols import is_async_iterator, is_iterator

__all__ = ["publication_route", "check_output_kind", "consumer_type"]


def publication_route(node: Any) -> str:
    """How a stream output is handed on: materialize, drain, fanout, bounded or direct."""
    if node.materialize_output:
        return "materialize"
    if node.output_contract.drain_policy == "terminal":
        return "drain"
    if node.publish_plan.strategy in ("publish_sync_fanout", "publish_async_fanout"):
        return "fanout"
    if node.publish_plan.handoff == "bounded_iterator":
        return "bounded"
    return "direct"


def check_output_kind(node: Any, value: Any) -> None:
    """A step must return what it was compiled as (05 §6.3); TypeError otherwise."""
    stream = node.is_stream
    is_async = node.output_contract.runtime_kind == "async_stream"
    ok_stream = is_async_iterator(value) if is_async else is_iterator(value)
    if stream and not ok_stream:
        kind = "an async" if is_async else "a sync"
        raise TypeError(f"step '{node.name}' is compiled as {kind} stream but returned "
                        f"{type(value).__name__} at runtime; return an iterator (yield)")
    if not stream and node.output is not None and (is_iterator(value)
                                                   or is_async_iterator(value)):
        raise TypeError(f"step '{node.name}' is compiled as a value-producing step but "
                        "returned an iterator at runtime; annotate it '-> Iterator[...]'")


def consumer_type(core: Any, node: Any) -> Any:
    """The type reported in materialization events: first consumer's, or the output's."""
    if not node.is_stream:
        return node.output
    for consumer in node.consumers:
        return core.dag.steps[consumer].deps.get(node.name)
    return None
