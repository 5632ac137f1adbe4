"""Broken pipelines: one per build-time error a user can cause.

Each case builds a wrong definition and hands it to ``compile`` (``build_dag``).
With this implementation the ``pipeline(...)`` call itself already raises; with
SynaFlow 0.32.4 (which compiles lazily) ``compile`` is what raises. Keeping the
table free of pytest lets the same cases be replayed against the reference to
check that every ``ref=True`` phrase really is 0.32.4's wording.

Only the public API and the standard library are imported here, and no
``from __future__ import annotations``: the local classes below must resolve.
"""
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

from synaflow import Observer, OnError, StepMode, include, pipeline, step

NAME = "broken"


@dataclass(frozen=True)
class Case:
    """One broken definition and what its error must say.

    ``phrases``: fragments that must appear in ``str(exc)``; ``ref``: they are
    0.32.4's own wording (spec 09 §2); ``step``/``param``: names the message and
    the exception attributes must carry (``None`` = not applicable);
    ``shape``: 0.32.4 raised ``TypeError`` here, so ours is also a ``TypeError``;
    ``pipeline``: the pipeline named in the message.
    """

    id: str
    build: Callable[[Callable[[Any], Any]], Any]
    phrases: tuple[str, ...]
    step: Optional[str] = None
    param: Optional[str] = None
    shape: bool = False
    ref: bool = True
    pipeline: Optional[str] = NAME


CASES: list[Case] = []


def case(id: str, *phrases: str, step: Optional[str] = None, param: Optional[str] = None,
         shape: bool = False, ref: bool = True, pipeline_name: Optional[str] = NAME):
    def register(fn):
        CASES.append(Case(id, fn, phrases, step, param, shape, ref, pipeline_name))
        return fn
    return register


# -- shared pieces -----------------------------------------------------------------
class P(NamedTuple):
    n: int = 1


class Users(NamedTuple):
    users: list[str] = []


class Sub(NamedTuple):
    v: int


class Db:
    pass


def open_db() -> Db:
    return Db()


def other_db() -> Db:
    return Db()


def one(n: int) -> int:
    return n


def ints(n: int) -> Iterator[int]:
    yield from range(n)


def ints_list(n: int) -> list[int]:
    return list(range(n))


def to_sub(n: int) -> Sub:
    return Sub(v=n)


def sub_leaf(v: int) -> int:
    return v


def make(steps, **kw) -> Any:
    kw.setdefault("params", P)
    return pipeline(name=NAME, steps=steps, **kw)


def sub_pipeline(**kw) -> Any:
    kw.setdefault("exports", "leaf")
    return pipeline(name="sub", params=Sub, steps=[step("leaf", fn=sub_leaf)], **kw)


# -- pipeline-level ------------------------------------------------------------------
@case("params_dict", "'params' must be a NamedTuple or dataclass")
def _(compile):
    return compile(make([step("a", fn=one)], params=dict))


@case("params_none", "'params' must be a NamedTuple or dataclass")
def _(compile):
    return compile(make([step("a", fn=one)], params=None))


@case("params_instance", "'params' must be a NamedTuple or dataclass", ref=False)
def _(compile):
    return compile(make([step("a", fn=one)], params=P(n=1)))


@case("pipeline_name_empty", "pipeline name must be a non-empty string", ref=False,
      pipeline_name=None)
def _(compile):
    return compile(pipeline(name="", params=P, steps=[step("a", fn=one)]))


@case("steps_not_list", "'steps' must be a list", ref=False)
def _(compile):
    return compile(make(step("a", fn=one)))


@case("steps_entry_function", "steps[0] is a function, not a step(...)", ref=False)
def _(compile):
    return compile(make([one]))


@case("steps_entry_none", "steps[1] is a NoneType", ref=False)
def _(compile):
    return compile(make([step("a", fn=one), None]))


@case("include_exports_names_no_step", "exports 'status/loaded.json', which names no step",
      "cannot be included", step="inc", ref=False)
def _(compile):
    sub = sub_pipeline(exports="status/loaded.json")
    return compile(make([include("inc", fn=to_sub, pipeline=sub)]))


@case("exports_not_a_name", "'exports' must be a step name", ref=False)
def _(compile):
    return compile(make([step("a", fn=one)], exports=5))


@case("resources_not_dict", "'resources' must be a dict", ref=False)
def _(compile):
    return compile(make([step("a", fn=one)], resources=[open_db]))


@case("observers_not_list", "'observers' must be a list", ref=False)
def _(compile):
    return compile(make([step("a", fn=one)], observers=Observer(print)))


# -- names ---------------------------------------------------------------------------
@case("step_name_dunder", "which is reserved for sub-pipeline name scoping", step="a__b")
def _(compile):
    return compile(make([step("a__b", fn=one)]))


@case("include_name_dunder", "which is reserved for sub-pipeline name scoping", step="x__y")
def _(compile):
    return compile(make([include("x__y", fn=to_sub, pipeline=sub_pipeline())]))


@case("step_name_empty", "step name must be a non-empty string", ref=False)
def _(compile):
    return compile(make([step("", fn=one)]))


@case("duplicate_step_name", "duplicate step name", step="a")
def _(compile):
    return compile(make([step("a", fn=one), step("a", fn=one)]))


@case("base_name_collision", "both map to Base Dataset", step="users")
def _(compile):
    return compile(make([step("user", fn=one), step("users", fn=one)]))


@case("base_suffix_collision", "both map to Base Dataset", step="as_dict")
def _(compile):
    return compile(make([step("as_list", fn=one), step("as_dict", fn=one)]))


@case("step_named_params_field", "collides with a params field", step="n", ref=False)
def _(compile):
    """0.32.4 built this and fed consumers the params value instead of the step's."""
    def n(m: int) -> int:
        return m

    class M(NamedTuple):
        m: int
        n: int

    return compile(make([step("n", fn=n)], params=M))


@case("step_named_field_it_reads", "collides with a params field", step="n", ref=False)
def _(compile):
    """0.32.4: 'has a circular dependency involving 'n''."""
    return compile(make([step("n", fn=one)]))


# -- functions and hints ---------------------------------------------------------------
@case("fn_not_callable", "must have a callable 'fn'", step="a")
def _(compile):
    return compile(make([step("a", fn=5)]))


@case("include_fn_not_callable", "must have a callable 'fn'", step="inc", ref=False)
def _(compile):
    return compile(make([include("inc", fn=5, pipeline=sub_pipeline())]))


@case("unresolvable_hint", "Could not resolve the type hints of", step="a")
def _(compile):
    def f(n: int) -> "Undefined":  # noqa: F821
        return n

    return compile(make([step("a", fn=f)]))


@case("missing_dependency",
      "depends on 'missing' but no resource, prior step, or params field produces it",
      step="a", param="missing")
def _(compile):
    def f(missing: int) -> int:
        return missing

    return compile(make([step("a", fn=f)]))


@case("declared_after", "depends on 'later' but no resource, prior step, or params field "
      "produces it: step 'later' is declared after 'a'", "move step 'later' before step 'a'",
      step="a", param="later", ref=False)
def _(compile):
    def f(later: int) -> int:
        return later

    def later(n: int) -> int:
        return n

    return compile(make([step("a", fn=f), step("later", fn=later)]))


@case("dependency_cycle", "depends on 'b' but no resource, prior step, or params field "
      "produces it: step 'b' is declared after 'a' and depends back on it",
      "dependency cycle: a → b → c → a", step="a", param="b", ref=False)
def _(compile):
    def a(b: int) -> int:
        return b

    def b(c: int) -> int:
        return c

    def c(a: int) -> int:
        return a

    return compile(make([step("a", fn=a), step("b", fn=b), step("c", fn=c)]))


@case("missing_custom_type", "depends on 'db'", "(type 'Db')", "resources={}",
      step="a", param="db")
def _(compile):
    def f(db: Db) -> int:
        return 1

    return compile(make([step("a", fn=f)]))


@case("forward_reference", "depends on 'b' but no resource", step="a", param="b")
def _(compile):
    def a(b: int) -> int:
        return b

    return compile(make([step("a", fn=a), step("b", fn=one)]))


@case("varargs_dependency", "depends on 'args' but no resource", step="a", param="args")
def _(compile):
    def f(n: int, *args) -> int:
        return n

    return compile(make([step("a", fn=f)]))


@case("duplicate_parameters", "has duplicate parameters", step="a", param="users")
def _(compile):
    def f(user: str, users: list[str]) -> int:
        return 1

    return compile(make([step("a", fn=f)], params=Users))


@case("hidden_dependency", "depends on hidden step '_quiet'", step="b", param="_quiet",
      ref=False)
def _(compile):
    def b(_quiet: int) -> int:
        return _quiet

    return compile(make([step("_quiet", fn=one), step("b", fn=b)]))


# -- types ---------------------------------------------------------------------------
@case("explicit_none_producer", "produces explicit NoneType", step="b", param="a")
def _(compile):
    def a(n: int) -> None:
        return None

    def b(a: int) -> int:
        return 1

    return compile(make([step("a", fn=a), step("b", fn=b)]))


@case("type_mismatch", "expects str but 'a' produces int", step="b", param="a")
def _(compile):
    def b(a: str) -> int:
        return 1

    return compile(make([step("a", fn=one), step("b", fn=b)]))


@case("stream_into_dict", "expects dict[str, int] but 'a' produces Stream[int]",
      step="b", param="a")
def _(compile):
    def b(a: dict[str, int]) -> int:
        return 1

    return compile(make([step("a", fn=ints), step("b", fn=b)]))


@case("list_into_optional_list", "expects", "but 'a' produces list[int]", step="b",
      param="a", ref=False)
def _(compile):
    """A materialized producer never feeds a scalar-typed consumer of another type."""
    def b(a: str) -> int:
        return 1

    return compile(make([step("a", fn=ints_list), step("b", fn=b)]))


# -- modes and settings ----------------------------------------------------------------
@case("forced_each", "forced to EACH mode", step="a")
def _(compile):
    return compile(make([step("a", fn=one, mode=StepMode.EACH)]))


@case("forced_all", "forced to ALL mode", step="b")
def _(compile):
    def b(a: int) -> int:
        return a

    return compile(make([step("a", fn=ints), step("b", fn=b, mode=StepMode.ALL)]))


@case("each_returns_stream", "Each-mode steps cannot return stream-like outputs", step="b")
def _(compile):
    def b(a: int) -> Iterator[int]:
        yield a

    return compile(make([step("a", fn=ints), step("b", fn=b), step("c", fn=_drain_b)]))


@case("mode_not_step_mode", "mode must be a StepMode", step="a", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, mode="each")]))


@case("on_error_not_enum", "on_error must be an OnError or one of 'continue', 'stop'",
      "found 'bogus'", step="a", param="on_error", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, on_error="bogus")]))


@case("on_error_wrong_type", "on_error must be an OnError", "found 1", step="a",
      param="on_error", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, on_error=1)]))


@case("max_in_flight_zero", "max_in_flight must be >= 1", step="a")
def _(compile):
    return compile(make([step("a", fn=one, max_in_flight=0)]))


@case("max_in_flight_bool", "max_in_flight must be an integer, got bool", step="a")
def _(compile):
    return compile(make([step("a", fn=one, max_in_flight=True)]))


@case("max_in_flight_float", "max_in_flight must be an integer, got float", step="a")
def _(compile):
    return compile(make([step("a", fn=one, max_in_flight=1.5)]))


@case("threshold_pct_zero", "must be in (0.0, 1.0]", step="b")
def _(compile):
    return compile(make([step("a", fn=ints), step("b", fn=_each, error_threshold_pct=0)]))


@case("threshold_pct_above_one", "must be in (0.0, 1.0]", step="b")
def _(compile):
    return compile(make([step("a", fn=ints), step("b", fn=_each, error_threshold_pct=1.5)]))


@case("threshold_pct_string", "must be in (0.0, 1.0]", step="b", ref=False)
def _(compile):
    return compile(make([step("a", fn=ints), step("b", fn=_each, error_threshold_pct="5%")]))


@case("threshold_absolute_zero", "must be >= 1", step="b")
def _(compile):
    return compile(make([step("a", fn=ints),
                         step("b", fn=_each, error_threshold_absolute=0)]))


@case("threshold_with_stop", "together with 'on_error=STOP'", step="b")
def _(compile):
    return compile(make([step("a", fn=ints), step("b", fn=_each, on_error=OnError.STOP,
                                                   error_threshold_absolute=2)]))


@case("threshold_on_all_step", "but resolves to mode=ALL", step="a")
def _(compile):
    return compile(make([step("a", fn=one, error_threshold_pct=0.5)]))


@case("ray_options_not_dict", "'ray' options must be a dict", step="a", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, ray=4)]))


@case("ray_unknown_option", "unknown Ray option 'gpus'", step="a", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, ray={"gpus": 1})]))


@case("ray_negative_cpus", "Ray option 'num_cpus' must be", step="a", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, ray={"num_cpus": -1})]))


@case("ray_bad_batch_size", "Ray option 'batch_size' must be", step="a", ref=False)
def _(compile):
    return compile(make([step("a", fn=one, ray={"batch_size": 0})]))


# -- resources -----------------------------------------------------------------------
def _uses_db(n: int, db: Db) -> int:
    return n


@case("resource_not_callable", "must be declared as a factory callable")
def _(compile):
    return compile(make([step("a", fn=_uses_db)], resources={"db": 5}))


@case("resource_no_annotation", "must declare a return type annotation")
def _(compile):
    def factory():
        return Db()

    return compile(make([step("a", fn=_uses_db)], resources={"db": factory}))


@case("resource_returns_none", "must not return None")
def _(compile):
    def factory() -> None:
        return None

    return compile(make([step("a", fn=_uses_db)], resources={"db": factory}))


@case("resource_unresolvable_hint", "Could not resolve the type hints of")
def _(compile):
    def factory() -> "NoSuchClient":  # noqa: F821
        return Db()

    return compile(make([step("a", fn=_uses_db)], resources={"db": factory}))


@case("resource_params_collision", "collides with a params field")
def _(compile):
    def a(n: int) -> int:
        return n

    return compile(make([step("a", fn=a)], resources={"n": open_db}))


@case("resource_step_collision", "collides with a step name", step="db")
def _(compile):
    return compile(make([step("a", fn=_uses_db), step("db", fn=one)],
                        resources={"db": open_db}))


@case("unused_resource", "is declared in resources={} but not used by any step")
def _(compile):
    return compile(make([step("a", fn=one)], resources={"db": open_db}))


@case("resource_two_factories", "declared multiple times with different instances/factories")
def _(compile):
    def leaf(v: int, db: Db) -> int:
        return v

    sub = pipeline(name="sub", params=Sub, steps=[step("leaf", fn=leaf)], exports="leaf",
                   resources={"db": other_db})
    return compile(make([step("a", fn=_uses_db), include("inc", fn=to_sub, pipeline=sub)],
                        resources={"db": open_db}))


# -- includes ------------------------------------------------------------------------
@case("include_without_exports", "does not define 'exports', so it cannot be included",
      step="inc")
def _(compile):
    return compile(make([include("inc", fn=to_sub, pipeline=sub_pipeline(exports=None))]))


@case("include_adapter_unannotated", "must have a return type hint matching", step="inc")
def _(compile):
    def adapt(n: int):
        return Sub(v=n)

    return compile(make([include("inc", fn=adapt, pipeline=sub_pipeline())]))


@case("include_adapter_wrong_type", "must return 'Sub' or an Iterable of it", step="inc")
def _(compile):
    def adapt(n: int) -> P:
        return P(n)

    return compile(make([include("inc", fn=adapt, pipeline=sub_pipeline())]))


@case("include_not_a_pipeline", "include() needs a pipeline(...) object", step="inc",
      ref=False)
def _(compile):
    return compile(make([include("inc", fn=to_sub, pipeline={"steps": []})]))


@case("include_itself", "Infinite cycle detected", step="again")
def _(compile):
    """Definitions are frozen but the steps list is a list: append the pipeline to itself."""
    p = make([step("a", fn=one)])
    p.steps.append(include("again", fn=to_sub, pipeline=p))
    return compile(p)


# -- streaming topology --------------------------------------------------------------
def _each(a: int) -> int:
    return a


def _drain_a(a: Iterator[int]) -> None:
    """A lazy consumer of ``a`` (keeps that stream non-terminal)."""


def _drain_b(b: Iterator[int]) -> None:
    """A lazy consumer of ``b``."""


@case("asymmetric_lockstep", "Asymmetric lockstep materialization detected", step="join")
def _(compile):
    def total(src: Iterator[int]) -> int:
        return 0

    def scaled(src: int) -> int:
        return src

    def join(total: int, scaled: Iterator[int]) -> None:
        return None

    return compile(make([step("src", fn=ints), step("total", fn=total),
                         step("scaled", fn=scaled), step("join", fn=join)]))


@case("terminal_stream", "but its output is never materialized", step="a")
def _(compile):
    return compile(make([step("a", fn=ints)]))


@case("sync_stream_in_async", "is UNRUNNABLE")
def _(compile):
    async def b(a: Iterator[int]) -> int:
        return 1

    return compile(make([step("a", fn=ints), step("b", fn=b)]))


@case("custom_mat_conflict", "incompatible materialized types", step="src", ref=False)
def _(compile):
    """0.32.4 crashed with AttributeError ('DagNode' object has no attribute 'name')."""
    def src(n: int) -> Iterator:
        yield n

    def b(src: list[int]) -> int:
        return 1

    def c(src: set[str]) -> int:
        return 1

    return compile(make([step("src", fn=src, materializer=list), step("b", fn=b),
                         step("c", fn=c)]))


@case("uninferable_materializer", "Cannot infer memory materializer for consumer type",
      step="a", ref=False)
def _(compile):
    """Sequence does not say whether to build a list or a tuple."""
    from synaflow.materializers.memory import memory_materializer

    def a(n: int) -> Sequence[int]:
        return [n]

    def b(a: Sequence[int]) -> int:
        return 1

    return compile(make([step("a", fn=a, materializer=memory_materializer()),
                         step("b", fn=b)]))


@case("materializer_no_consumer", "Cannot infer memory materializer for consumer type",
      step="a")
def _(compile):
    from synaflow.materializers.memory import memory_materializer

    return compile(make([step("a", fn=ints_list, materializer=memory_materializer())]))


# -- handlers (0.32.4: TypeError) --------------------------------------------------------
async def _async_handler(ctx) -> None:
    return None


async def _async_error_sink(err) -> None:
    """Named ``err``, not ``ctx``: a ``ctx`` parameter marks a materializer *factory*."""


def _sync_handler(ctx) -> None:
    return None


async def _async_one(n: int) -> int:
    return n


@case("async_observer_in_sync", "is async but the pipeline runs synchronously", shape=True)
def _(compile):
    return compile(make([step("a", fn=one)], observers=[Observer(_async_handler)]))


@case("sync_observer_in_async", "is synchronous but the pipeline runs asynchronously",
      shape=True)
def _(compile):
    return compile(make([step("a", fn=_async_one)], observers=[Observer(_sync_handler)]))


@case("async_step_observer_sync", "is async but the pipeline runs synchronously",
      step="a", shape=True)
def _(compile):
    return compile(make([step("a", fn=one, observers=[Observer(_async_handler)])]))


@case("sync_step_in_async", "is synchronous but the pipeline runs asynchronously",
      step="b", shape=True)
def _(compile):
    return compile(make([step("a", fn=_async_one), step("b", fn=_each)]))


@case("async_error_mat_in_sync", "is async but the pipeline runs synchronously",
      step="a", shape=True)
def _(compile):
    return compile(make([step("a", fn=one, error_materializer=_async_error_sink)]))


@case("materializer_not_callable", "is not callable", step="a", shape=True)
def _(compile):
    return compile(make([step("a", fn=ints, materializer=5), step("c", fn=_drain_a)]))


@case("pipeline_mat_not_callable", "is not callable", step="a", shape=True)
def _(compile):
    return compile(make([step("a", fn=ints), step("c", fn=_drain_a)], materializer=5))


@case("error_mat_not_callable", "is not callable", step="a", shape=True, ref=False)
def _(compile):
    return compile(make([step("a", fn=one, error_materializer="log")]))


@case("observer_not_callable", "is not callable", shape=True)
def _(compile):
    return compile(make([step("a", fn=one)], observers=[Observer(42)]))


class FileStat(NamedTuple):
    size: int


def file_stat(user: str) -> FileStat:
    return FileStat(len(user))


@case("each_output_wrong_list", "expects list[int] but 'file_stat' produces ListType(FileStat)",
      "annotate 'file_stat: list[FileStat]' to receive them all", step="total",
      param="file_stat", ref=False)
def _(compile):
    def total(file_stat: list[int]) -> int:
        return len(file_stat)

    return compile(make([step("file_stat", fn=file_stat), step("total", fn=total)],
                        params=Users))
