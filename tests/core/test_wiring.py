"""Wiring (spec 02): what a step can depend on, name matching, types, annotations.

Deliberate differences from 0.32.4 tested as such: ``Any`` consumers accept
anything, subclasses and ``int -> float`` are accepted, ``X | None`` behaves like
``Optional[X]``, ``Generator[...]``/unannotated stream consumers are accepted, and
an unannotated generator function is a stream step.
"""
from __future__ import annotations

import collections.abc as cabc
import functools
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

import pytest

from buildkit import is_stream_annotation, make_fn, raises_definition
from synaflow import pipeline, step
from synaflow.core.type_compatibility import ListType

NoneType = type(None)


class P(NamedTuple):
    n: int = 1


class Base:
    pass


class Derived(Base):
    pass


class Db:
    pass


def open_db() -> Db:
    return Db()


def build(*steps, params=P, **kw):
    return pipeline(name="w", params=params, steps=list(steps), **kw)


# -- §1 producers --------------------------------------------------------------------
def test_params_resources_prior_steps():
    """A step sees params fields, resources and earlier steps, in that table."""
    a = make_fn("a", {"n": int}, int)
    b = make_fn("b", {"a": int, "db": Db, "n": int}, str)
    dag = build(step("a", fn=a), step("b", fn=b), resources={"db": open_db}).dag
    assert dict(dag.steps["b"].deps) == {"a": int, "db": Db, "n": int}
    assert list(dag.steps["b"].deps) == ["a", "db", "n"]  # parameter order
    assert dag.get_execution_levels() == [["a"], ["b"]]  # resources/params are no steps


def test_dataclass_params_in_order():
    """Dataclass params work like NamedTuple params, in field order."""
    @dataclass
    class Cfg:
        zeta: int = 1
        alpha: str = "x"

    f = make_fn("f", {"alpha": str, "zeta": int}, int)
    dag = build(step("f", fn=f), params=Cfg).dag
    assert list(dag.params) == ["zeta", "alpha"]
    assert dag.to_dict()["params"] == {"zeta": "int", "alpha": "str"}


def test_unresolvable_params_field():
    """Params hints that cannot resolve are kept raw (02 §7): typed readers are refused."""
    class Loose(NamedTuple):
        n: "NotDefinedAnywhere"  # noqa: F821

    typed = make_fn("f", {"n": int}, int)
    raises_definition(lambda: build(step("f", fn=typed), params=Loose), "NotDefinedAnywhere",
                      step="f", param="n")
    loose = make_fn("f", ["n"], int)
    assert "NotDefinedAnywhere" in build(step("f", fn=loose), params=Loose).to_dict()[
        "params"]["n"]


def test_default_is_a_dependency():
    """A parameter with a default is still a dependency (no optional parameters)."""
    def f(n: int, k: int = 5) -> int:
        return n + k

    raises_definition(lambda: build(step("f", fn=f)), "depends on 'k'", step="f", param="k")


def test_kwargs_is_a_dependency():
    """``**kwargs`` is an ordinary name that must be produced."""
    def f(n: int, **kwargs) -> int:
        return n

    raises_definition(lambda: build(step("f", fn=f)), "depends on 'kwargs'", param="kwargs")


def test_hidden_step_is_allowed():
    """A step whose name starts with '_' builds (it is terminal, see test_modes)."""
    dag = build(step("_audit", fn=make_fn("_audit", {"n": int}, int))).dag
    assert dag.is_hidden_step("_audit") and dag.is_terminal_step("_audit")


# -- §2 name matching ----------------------------------------------------------------------
class UserCfg(NamedTuple):
    user: str = "u"


class OrderCfg(NamedTuple):
    order: int = 1


NAME_MATCHING = [
    # (params, resources, producer step, consumer parameter, bound producer)
    pytest.param(UserCfg, {}, "users", "users", "users", id="exact_step"),
    pytest.param(UserCfg, {}, "users", "user", "user", id="exact_params_field"),
    pytest.param(UserCfg, {}, "users", "user_list", "user", id="synonym_params_first"),
    pytest.param(P, {"item": open_db}, "items", "item_list", "item", id="resource_before_step"),
    pytest.param(P, {}, "orders", "order", "orders", id="singular_to_plural"),
    pytest.param(P, {}, "orders", "order_list", "orders", id="list_suffix"),
    pytest.param(P, {}, "orders", "orders_set", "orders", id="set_suffix"),
    pytest.param(P, {}, "category", "categories", "category", id="plural_to_singular"),
    pytest.param(P, {}, "child", "children", "child", id="irregular_plural"),
    pytest.param(OrderCfg, {}, "batch", "order_tuple", "order", id="tuple_suffix_params"),
]


@pytest.mark.parametrize("params, resources, producer, param, bound", NAME_MATCHING)
def test_name_matching(params, resources, producer, param, bound):
    """Exact names win; otherwise the first producer with the same base (02 §2)."""
    src = make_fn(producer, {"n": int} if "n" in params._fields else {}, object)
    ann = {param: None}
    if resources:
        ann["n"] = None  # keep the resource used only through the synonym below
    use = make_fn("consume", {param: None})
    steps = [step(producer, fn=src), step("consume", fn=use)]
    if not resources:
        dag = build(*steps, params=params).dag
    else:
        dag = build(*steps, params=params, resources=resources).dag
    node = dag.steps["consume"]
    assert list(node.deps) == [bound]
    assert node.bindings[0].param == param and node.bindings[0].producer == bound
    expected = {} if bound == param else {bound: param}
    assert dict(node.dataset_param_names) == expected


def test_smart_binding_in_json():
    """deps are keyed by the producer; dataset_param_names maps producer -> parameter."""
    src = make_fn("readings", {"n": int}, Iterator[float], kind="gen")
    use = make_fn("kelvin", {"reading": float}, float)
    d = build(step("readings", fn=src), step("kelvin", fn=use)).to_dict()["steps"]["kelvin"]
    assert d["deps"] == {"readings": "float"}
    assert d["dataset_param_names"] == {"readings": "reading"}


def test_x_does_not_match_xs():
    """inflect quirk kept: base('x') is 'xes', so 'x' never binds to 'xs'."""
    xs = make_fn("xs", {"n": int}, int)
    use = make_fn("use", {"x": int}, int)
    raises_definition(lambda: build(step("xs", fn=xs), step("use", fn=use)),
                      "depends on 'x'", step="use", param="x")


def test_one_producer_two_params():
    """Two parameters binding the same producer are refused (names both)."""
    users = make_fn("users", {"n": int}, list)
    use = make_fn("use", {"user": str, "users": list}, int)
    err = raises_definition(lambda: build(step("users", fn=users), step("use", fn=use)),
                            "has duplicate parameters", step="use")
    assert "'user'" in str(err) and "'users'" in str(err)


# -- §4 type compatibility -------------------------------------------------------------
OK, ERR = "ok", "error"

TYPE_TABLE = [
    # producer output, consumer parameter, outcome, consumer mode, consumption
    (int, int, OK, "all", "barrier_only"),
    (int, Optional[int], OK, "all", "barrier_only"),
    (int, Union[int, str], OK, "all", "barrier_only"),
    (int, int | str, OK, "all", "barrier_only"),
    (int, float, OK, "all", "barrier_only"),          # ours: numeric widening
    (int, Any, OK, "all", "barrier_only"),            # ours: Any is a wildcard
    (Derived, Base, OK, "all", "barrier_only"),       # ours: subclasses
    (bool, int, OK, "all", "barrier_only"),           # ours: bool is an int subclass
    (int, list[int], ERR, None, None),
    (int, Iterator[int], ERR, None, None),
    (int, str, ERR, None, None),
    (str, int, ERR, None, None),
    (float, int, ERR, None, None),
    (Base, Derived, ERR, None, None),
    (Iterator[int], int, OK, "each", "item"),
    (Iterator[int], Optional[int], OK, "each", "item"),
    (Iterator[int], int | None, OK, "each", "item"),
    (Generator[int, None, None], int, OK, "each", "item"),
    (list[int], int, OK, "each", "item"),
    (set[int], int, OK, "each", "item"),
    (tuple[int, ...], int, OK, "each", "item"),
    (Iterable[int], int, OK, "each", "item"),
    (Iterator[int], Iterator[int], OK, "all", "stream"),
    (Iterator[int], Iterable[int], OK, "all", "stream"),
    (Iterator[int], Iterator, OK, "all", "stream"),
    (list[int], Iterator[int], OK, "all", "stream"),
    (Iterator[int], Generator[int, None, None], OK, "all", "stream"),  # ours
    (Iterator[int], list[int], OK, "all", "materialized"),
    (Iterator[int], list, OK, "all", "materialized"),
    (Iterator[int], set[int], OK, "all", "materialized"),
    (Iterator[int], tuple[int, ...], OK, "all", "materialized"),
    (Iterator[int], dict[str, int], ERR, None, None),
    (Iterator[int], Iterator[str], ERR, None, None),
    (Iterator[int], Sequence[int], ERR, None, None),
    (Iterator[int], str, ERR, None, None),
    (Iterator[tuple[str, int]], dict[str, int], OK, "all", "materialized"),
    (Iterator[tuple[str, int]], list[tuple[str, int]], OK, "all", "materialized"),
    (Iterator[tuple[str, int]], tuple[str, int], OK, "all", "materialized"),
    (Iterator[tuple[str, int]], list, OK, "all", "materialized"),
    (Iterator[tuple[str, int]], str, OK, "each", "item"),
    (dict[str, int], str, OK, "each", "item"),
    (dict[str, int], list[tuple[str, int]], OK, "all", "materialized"),
    (dict[str, int], list[str], OK, "all", "materialized"),
    (dict[str, int], dict[str, int], OK, "all", "materialized"),
    (cabc.Iterator, int, OK, "each", "item"),
    (cabc.Iterator, list[str], OK, "all", "materialized"),
    (list, int, OK, "each", "item"),
    (list, dict[str, int], OK, "all", "materialized"),
    (Sequence[int], int, OK, "all", "barrier_only"),
    (NoneType, Optional[int], OK, "all", "barrier_only"),
    (NoneType, Optional[Base], OK, "all", "barrier_only"),
    (NoneType, int | None, OK, "all", "barrier_only"),  # ours: PEP 604 like Optional
    (NoneType, Any, OK, "all", "barrier_only"),          # ours: Any
    (NoneType, int, ERR, None, None),
    (list[int], Optional[list[int]], ERR, None, None),
    (list[int], list[int] | None, ERR, None, None),
    (None, int, OK, "all", "barrier_only"),              # unannotated producer
    (None, Iterator[int], OK, "all", "stream"),
    (Iterator[int], None, OK, "all", "barrier_only"),    # ours: unannotated consumer
    (int, None, OK, "all", "barrier_only"),
]


def _type_id(row) -> str:
    def short(t):
        return "unannotated" if t is None else str(t).replace("collections.abc.", "")
    return f"{short(row[0])}->{short(row[1])}"


@pytest.mark.parametrize("producer, consumer, outcome, mode, consumption", TYPE_TABLE,
                         ids=[_type_id(r) for r in TYPE_TABLE])
def test_type_rules(producer, consumer, outcome, mode, consumption):
    """One producer feeding one consumer: builds or not, with which mode/consumption."""
    src = make_fn("src", {"n": int}, *(() if producer is None else (producer,)),
                  kind="gen" if is_stream_annotation(producer) else "sync")
    use = make_fn("use", {"src": consumer}, int)
    build_it = lambda: build(step("src", fn=src), step("use", fn=use))  # noqa: E731
    if outcome == ERR:
        raises_definition(build_it, "expects", "but 'src' produces", step="use", param="src")
        return
    dag = build_it().dag
    assert dag.steps["use"].mode.value == mode
    assert [c.consumption for c in dag.steps["src"].consumer_contracts] == [consumption]
    assert dag.steps["use"].each_mode_deps == (("src",) if mode == "each" else ())


def test_mismatch_message_names_both_sides():
    """The type error says what the consumer expects and what the producer returns."""
    src = make_fn("src", {"n": int}, Iterator[int], kind="gen")
    use = make_fn("use", {"src": dict[str, int]}, int)
    err = raises_definition(lambda: build(step("src", fn=src), step("use", fn=use)),
                            "expects dict[str, int] but 'src' produces Stream[int]")
    assert "'src: Iterator[int]'" in err.fix and "'src: list[int]'" in err.fix


# -- §5 explicit None ------------------------------------------------------------------
def test_none_vs_unknown_render_alike():
    """``-> None`` and no annotation both render "None" but only one is explicit."""
    a = make_fn("a", {"n": int}, None)
    b = make_fn("b", {"n": int})
    d = build(step("a", fn=a), step("b", fn=b)).to_dict()["steps"]
    assert d["a"]["output"] == d["b"]["output"] == "None"
    use = make_fn("use", {"b": int}, int)
    build(step("b", fn=b), step("use", fn=use))  # unknown feeds anything
    use_a = make_fn("use", {"a": int}, int)
    raises_definition(lambda: build(step("a", fn=a), step("use", fn=use_a)),
                      "produces explicit NoneType", step="use", param="a")


# -- §7 annotations --------------------------------------------------------------------
def test_pep563_module_annotations():
    """String annotations (``from __future__ import annotations``) resolve at module level."""
    from tests.examples_build import pool

    dag = pipeline(name="pep563", params=pool.Params,
                   steps=[step("numbers", fn=pool.numbers), step("total", fn=pool.total)]).dag
    assert dag.steps["numbers"].output == Iterator[int]
    assert dag.steps["total"].deps["numbers"] == list[int]


def test_lambda_and_bound_method():
    """Lambdas (unannotated) and bound methods are valid step functions."""
    class Scaler:
        def __init__(self, k: int) -> None:
            self.k = k

        def scale(self, n: int) -> int:
            return n * self.k

    dag = build(step("scaled", fn=Scaler(3).scale), step("shown", fn=lambda scaled: scaled)).dag
    assert dag.steps["scaled"].output is int
    assert dict(dag.steps["shown"].deps) == {"scaled": None}
    assert dag.to_dict()["steps"]["shown"]["fn"] == "<lambda>"


def test_annotated_callable_instance():
    """An annotated callable instance is read through ``__call__`` (0.32.4 refused it)."""
    class Doubler:
        def __call__(self, n: int) -> int:
            return 2 * n

    dag = build(step("d", fn=Doubler())).dag
    assert dag.steps["d"].output is int
    assert dag.to_dict()["steps"]["d"]["fn"] == "Doubler"


def test_positional_partial():
    """A partial binding leading arguments is wired by its remaining parameters."""
    def add(k: int, n: int) -> int:
        return k + n

    dag = build(step("added", fn=functools.partial(add, 10))).dag
    assert list(dag.steps["added"].deps) == ["n"]
    assert dag.steps["added"].output is int


def test_cached_step_keeps_hints():
    """A ``functools.lru_cache`` step is read through ``__wrapped__`` (types still checked)."""
    @functools.lru_cache(maxsize=None)
    def label(n: int) -> str:
        return str(n)

    use = make_fn("use", {"label": int}, int)
    assert build(step("label", fn=label)).dag.steps["label"].output is str
    raises_definition(lambda: build(step("label", fn=label), step("use", fn=use)),
                      "expects int but 'label' produces str", step="use", param="label")


def test_unannotated_param_never_each():
    """An unannotated parameter is not scalar: a stream feeding it is taken whole."""
    src = make_fn("src", {"n": int}, Iterator[int], kind="gen")
    use = make_fn("use", ["src"])
    dag = build(step("src", fn=src), step("use", fn=use)).dag
    assert dag.steps["use"].mode.value == "all"
    assert dag.steps["src"].materializer is list  # 0.32.4: "Cannot infer memory materializer"


def test_unannotated_generator_is_stream():
    """An unannotated generator function compiles as a stream of unknown items."""
    src = make_fn("src", {"n": int}, kind="gen")
    use = make_fn("use", {"src": int}, int)
    dag = build(step("src", fn=src), step("use", fn=use)).dag
    assert dag.steps["src"].output is cabc.Iterator
    assert dag.steps["src"].fn_kind == "sync_generator"
    assert dag.steps["src"].output_contract.runtime_kind == "sync_stream"
    assert dag.steps["use"].mode.value == "each"
    assert dag.to_dict()["steps"]["src"]["output"] == "Stream"


def test_unannotated_async_generator():
    """An unannotated async generator is an async stream; the pipeline is async."""
    src = make_fn("src", {"n": int}, kind="agen")
    use = make_fn("use", {"src": AsyncIterator[int]}, int, kind="async")
    dag = build(step("src", fn=src), step("use", fn=use)).dag
    assert dag.steps["src"].output is cabc.AsyncIterator
    assert dag.requires_async_runner and not dag.requires_sync_runner
    assert dag.steps["use"].async_stream_deps == ("src",)


def test_each_output_is_listtype():
    """An EACH step's output is ``ListType(T)``, rendered ``ListType(T)``."""
    src = make_fn("src", {"n": int}, list[int])
    use = make_fn("use", {"src": int}, float)
    dag = build(step("src", fn=src), step("use", fn=use)).dag
    assert dag.steps["use"].output == ListType(float)
    assert dag.to_dict()["steps"]["use"]["output"] == "ListType(float)"


def test_async_generator_consumer():
    """An ``AsyncGenerator[...]`` parameter reads an async stream lazily (0.32.4 refused it)."""
    from collections.abc import AsyncGenerator

    src = make_fn("src", {"n": int}, AsyncIterator[int], kind="agen")
    use = make_fn("use", {"src": AsyncGenerator[int, None]}, int, kind="async")
    p = build(step("src", fn=src), step("use", fn=use))
    d = p.to_dict()["steps"]
    assert d["src"]["consumer_contracts"][0]["consumption"] == "stream"
    assert d["src"]["materializer"] == "async_collection"
    assert d["use"]["async_stream_deps"] == ["src"]
