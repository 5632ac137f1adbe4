"""Every build-time mistake a user can make gives one clear PipelineDefinitionError.

The cases live in ``broken_cases.py`` (one per row of spec 09 §2 that still
applies, plus the checks this implementation adds). For each: the class (also a
``ValueError``, or a ``TypeError`` where 0.32.4 raised one), 0.32.4's key phrase,
and a message that names the pipeline, the step and the parameter and says how
to fix it. A hypothesis test then throws garbage definitions at ``pipeline(...)``:
it must either build or raise PipelineDefinitionError, never AttributeError,
KeyError, IndexError or anything else.
"""
from __future__ import annotations

import collections.abc as cabc
import functools
import json
import random
import typing
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broken_cases import CASES, NAME, Case
from synaflow import Observer, OnError, StepMode, include, pipeline, step
from synaflow.core.dag import Dag, DagNode
from synaflow.core.dag_builder import build_dag
from synaflow.core.exceptions import PipelineDefinitionError
from synaflow.core.frozen import FrozenDict

# Fragments of spec 09 §2 that must each be covered by a case quoting 0.32.4.
SPEC_FRAGMENTS = [
    "'params' must be a NamedTuple or dataclass",
    "which is reserved for sub-pipeline name scoping",
    "both map to Base Dataset",
    "duplicate step name",
    "must have a callable 'fn'",
    "Could not resolve the type hints of",
    "max_in_flight must be >= 1",
    "must be an integer, got bool",
    "must be in (0.0, 1.0]",
    "must be >= 1",
    "together with 'on_error=STOP'",
    "but resolves to mode=ALL",
    "but no resource, prior step, or params field produces it",
    "has duplicate parameters",
    "produces explicit NoneType",
    "expects str but 'a' produces int",
    "forced to EACH mode",
    "forced to ALL mode",
    "Each-mode steps cannot return stream-like outputs",
    "must be declared as a factory callable",
    "must declare a return type annotation",
    "must not return None",
    "collides with a params field",
    "collides with a step name",
    "is declared in resources={} but not used by any step",
    "declared multiple times with different instances/factories",
    "does not define 'exports', so it cannot be included",
    "must have a return type hint matching",
    "or an Iterable of it",
    "Infinite cycle detected",
    "Asymmetric lockstep materialization detected",
    "but its output is never materialized",
    "is UNRUNNABLE",
    "Cannot infer memory materializer for consumer type",
    "is async but the pipeline runs synchronously",
    "is synchronous but the pipeline runs asynchronously",
    "is not callable",
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_definition(case: Case):
    """Right class, 0.32.4's phrase, names pipeline/step/parameter, says "Fix:"."""
    compiled = []

    def compile(p):
        compiled.append(p)
        return build_dag(p)

    with pytest.raises(PipelineDefinitionError) as info:
        case.build(compile)
    exc = info.value
    text = str(exc)
    assert isinstance(exc, ValueError)
    assert isinstance(exc, TypeError) is case.shape
    for phrase in case.phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    if case.pipeline is not None:
        assert f"ipeline '{case.pipeline}'" in text
        assert exc.pipeline_name == case.pipeline
    if case.step is not None:
        assert f"step '{case.step}'" in text
    assert exc.step_name == case.step
    if case.param is not None:
        assert f"parameter '{case.param}'" in text
    assert exc.param_name == case.param
    assert "Fix:" in text and exc.fix
    if case.id != "include_itself":  # the only one that needs a mutated definition
        assert compiled == [], "pipeline(...) itself must raise"


def test_at_least_forty_cases():
    """At least 40 distinct broken pipelines, each with a unique id."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 40


@pytest.mark.parametrize("fragment", SPEC_FRAGMENTS)
def test_spec_row_covered(fragment):
    """Every still-applicable row of spec 09 §2 has a case quoting 0.32.4's words."""
    assert any(c.ref and any(fragment in p for p in c.phrases) for c in CASES)


def test_wrong_keyword_is_typeerror():
    """Unknown keywords (the docs' ``memory_materializer_factory=``) are a TypeError."""
    with pytest.raises(TypeError):
        pipeline(name=NAME, params=dict, steps=[], memory_materializer_factory=list)
    with pytest.raises(TypeError):
        step("a", fn=len, materializer_factory=list)


def test_cycle_in_handmade_dag():
    """A hand-built cyclic Dag reports the steps on the cycle."""
    nodes = FrozenDict(a=DagNode(name="a", deps=FrozenDict(b=int)),
                       b=DagNode(name="b", deps=FrozenDict(a=int)),
                       c=DagNode(name="c"))
    dag = Dag(name="cyc", params=FrozenDict(), steps=nodes)
    with pytest.raises(ValueError, match="dependency cycle detected among steps: a, b"):
        dag.get_execution_levels()


def test_message_shape():
    """Where -> what -> how: the location leads, the fix closes the message."""
    case = next(c for c in CASES if c.id == "type_mismatch")
    with pytest.raises(PipelineDefinitionError) as info:
        case.build(build_dag)
    text = str(info.value)
    assert text.startswith("Pipeline 'broken', step 'b', parameter 'a': expects str")
    assert text.index("Fix:") > text.index("expects")


# -- garbage in, PipelineDefinitionError out ----------------------------------------------
class Custom:
    pass


@dataclass
class DataParams:
    n: int = 1
    items: list = None  # type: ignore[assignment]


class TupleParams(typing.NamedTuple):
    n: int = 1
    items: list[int] = []
    user: str = "u"


T = typing.TypeVar("T")

ANNOTATIONS = [
    int, str, float, bool, bytes, type(None), None, typing.Any, Custom, TupleParams,
    list, list[int], list[str], set[int], tuple[int, ...], tuple[str, int], dict[str, int],
    cabc.Iterator, cabc.Iterator[int], cabc.Iterator[str], cabc.Iterator[tuple[str, int]],
    cabc.Generator[int, None, None], cabc.Iterable[int], cabc.Sequence[int],
    cabc.Mapping[str, int], cabc.AsyncIterator[int], cabc.AsyncGenerator[int, None],
    cabc.Callable[[int], str], typing.Optional[int], int | None, typing.Union[int, str],
    typing.Optional[list[int]], typing.Literal["a", 1], typing.Annotated[int, "m"],
    list[cabc.Iterator[int]], dict[str, cabc.Iterator[int]], T, typing.List[int],
    # nonsense
    5, "Undefined", "int", object(), [int], Ellipsis, frozenset, typing.ClassVar[int],
]
NAMES = ["a", "b", "c", "n", "items", "item", "user", "users", "x", "xs", "order", "orders",
         "_h", "db"]
BAD_NAMES = ["", "a__b", "as_list", "as_dict", "args", "kwargs", "self", "inc"]
KINDS = ["sync", "sync", "gen", "async", "agen"]


def _garbage_fn(name: str, params: list[str], annotations: dict, kind: str):
    body = {"sync": "return None", "gen": "yield None", "async": "return None",
            "agen": "yield None"}[kind]
    prefix = "async " if kind in ("async", "agen") else ""
    ident = name if name.isidentifier() and not name.startswith("__") else "fn"
    unique = list(dict.fromkeys(p for p in params if p.isidentifier() and p != "self"))
    namespace: dict = {}
    exec(f"{prefix}def {ident}({', '.join(unique)}):\n    {body}\n", namespace)
    fn = namespace[ident]
    fn.__annotations__ = {k: v for k, v in annotations.items() if k in unique or k == "return"}
    return fn


def _lambda(x):
    return x


def _custom_factory() -> Custom:
    return Custom()


def _leaf(n: int) -> int:
    return n


@functools.cache
def _sub_pipeline():
    return pipeline(name="garbage_sub", params=TupleParams, steps=[step("leaf", fn=_leaf)],
                    exports="leaf")


def _adapter(n: int) -> TupleParams:
    return TupleParams(n=n)


# (sane choices, garbage choices) per setting; a step is sane 80% of the time.
STEP_SETTINGS = {
    "mode": ([StepMode.AUTO] * 6 + [StepMode.EACH, StepMode.ALL], ["each", None]),
    "on_error": ([OnError.CONTINUE] * 3 + [OnError.STOP], ["stop"]),
    "max_in_flight": ([1, 1, 2, 4], [0, -3, True, 1.5, "3", None]),
    "error_threshold_pct": ([None] * 7 + [0.5], [0, 1.5, "x", True]),
    "error_threshold_absolute": ([None] * 7 + [2], [0, -2, 2.5]),
    "force_materialize": ([False, False, True], ["yes"]),
    "materializer": ([None, None, None, list, set, print], [5]),
    "error_materializer": ([None, None, print], ["x"]),
    "observers": ([[], [], [Observer(print)]], [[Observer(5)], None, 3]),
    "ray": ([None, None, {"num_cpus": 1}], [{"num_cpus": -1}, {"bogus": 1}, [1]]),
}
PIPELINE_SETTINGS = {
    "name": (["g"], ["", None, 5]),
    "params": ([TupleParams, TupleParams, DataParams], [dict, None, TupleParams(), 5]),
    "resources": ([{}, {}, {"db": _custom_factory}, {"db": _custom_factory}],
                  [{"items": list}, {"n": int}, {"db": Custom}, {"db": 5}, None]),
    "exports": ([None, None, "a"], ["zzz", 3]),
    "materializer": ([None, None, list], [7]),
    "error_materializer": ([None, None, print], [7]),
    "observers": ([[], [], [Observer(print)]], [[Observer(1)], None]),
}


def _pick(rng, sane, garbage, p_garbage):
    return rng.choice(garbage if rng.random() < p_garbage else sane)


# Annotations that often fit together, so that garbage gets past type checks.
SANE_ANNOTATIONS = [int, int, list[int], cabc.Iterator[int], cabc.Iterator[int], typing.Any,
                    set[int], tuple[int, ...], typing.Optional[int], dict[str, int],
                    cabc.AsyncIterator[int]]


def _annotation(rng):
    return rng.choice(SANE_ANNOTATIONS if rng.random() < 0.6 else ANNOTATIONS)


STEP_NAMES = ["a", "b", "c", "x", "order", "total", "_h", "rows", "key"]
PARAMS_FIELDS = ["n", "items", "user"]


def _garbage_step(rng, name: str, visible: list[str]):
    params = [rng.choice(visible) if rng.random() < 0.85 else rng.choice(NAMES + BAD_NAMES)
              for _ in range(rng.randint(0, 3))]
    annotations = {p: _annotation(rng) for p in params if rng.random() < 0.6}
    if rng.random() < 0.7:
        annotations["return"] = _annotation(rng)
    fn = _garbage_fn(name, params, annotations, rng.choice(KINDS))
    if rng.random() < 0.03:
        fn = rng.choice([5, None, len, _lambda])
    p_garbage = 0.0 if rng.random() < 0.85 else 0.3
    settings_ = {k: _pick(rng, sane, bad, p_garbage) for k, (sane, bad) in STEP_SETTINGS.items()}
    return step(name, fn=fn, **settings_)


def random_garbage(rng, *, top_level: bool) -> dict:
    """Pipeline keyword arguments full of plausible and implausible choices.

    Driven by one seeded ``random.Random`` so that generating an example is cheap
    (hypothesis supplies and reports the seed; ``st.randoms()`` records every call
    and made each example ~25 times slower). Step names are mostly distinct and
    parameters mostly name visible producers, so that many definitions get past
    the name checks and exercise the type, mode and planning rules.
    """
    names = rng.sample(STEP_NAMES, rng.randint(0, 6))
    if rng.random() < 0.1:
        names.insert(rng.randint(0, len(names)), rng.choice(BAD_NAMES + PARAMS_FIELDS))
    visible = PARAMS_FIELDS + ["db"]
    entries: list = []
    for name in names:
        entries.append(_garbage_step(rng, name, visible))
        visible.append(name)
    if rng.random() < 0.25:
        extra = rng.choice(["include", "include", "include", "bad_include", None, len])
        if extra == "include":
            extra = include(rng.choice(["inc", "inc", "a"]), fn=_adapter,
                            pipeline=_sub_pipeline())
        elif extra == "bad_include":
            extra = include(rng.choice(NAMES), fn=_adapter,
                            pipeline=rng.choice([None, 5, TupleParams]))
        entries.insert(rng.randint(0, len(entries)), extra)
    p_garbage = 0.3 if top_level else 0.0
    kwargs = {k: _pick(rng, sane, bad, p_garbage) for k, (sane, bad) in
              PIPELINE_SETTINGS.items()}
    kwargs["steps"] = entries
    if top_level and rng.random() < 0.2:
        kwargs["steps"] = rng.choice([tuple(entries), None, entries[0] if entries else 5])
    return kwargs


def _build_or_definition_error(kwargs) -> None:
    try:
        p = pipeline(**kwargs)
    except PipelineDefinitionError:
        return
    json.dumps(p.to_dict())
    levels = p.dag.get_execution_levels()
    assert sorted(s for level in levels for s in level) == sorted(p.dag.steps)


@settings(max_examples=700, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32))
def test_garbage_steps_never_crash(seed):
    """Garbage steps (names, annotations, modes, settings) in a sane pipeline.

    ``pipeline(...)`` builds or raises PipelineDefinitionError, nothing else; a
    definition that builds also exports its JSON contract and its levels.
    """
    _build_or_definition_error(random_garbage(random.Random(seed), top_level=False))


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32))
def test_garbage_pipeline_never_crashes(seed):
    """The same with garbage pipeline arguments too (name, params, resources, exports...)."""
    _build_or_definition_error(random_garbage(random.Random(seed), top_level=True))
