"""Synonym matching of dataset names (spec 02 §2.1) and ``Scope`` (01 §1.1)."""

import dataclasses
import pickle
import subprocess
import sys

import pytest

from synaflow.core.naming import Scope, get_base_dataset_name

# Every verified row of spec 02 §2.1, quirks included.
VERIFIED_BASES = [
    ("order", "orders"),
    ("orders_set", "orders"),
    ("order_list", "orders"),
    ("invoice_dict", "invoices"),
    ("row_tuple", "rows"),
    ("category", "categories"),
    ("child", "children"),
    ("batch", "batches"),
    ("reading", "readings"),
    ("token", "tokens"),
    ("s3_key", "s3_keys"),
    ("page2", "page2"),
    ("raw_data", "raw_data"),
    ("news", "news"),
    ("bus", "bus"),
    ("analysis", "analysis"),
    ("x", "xes"),
    ("xs", "xs"),
    ("UserID", "UserIDs"),
    ("tag_list_list", "tag_lists"),
    ("as_list", "as"),
    ("as_dict", "as"),
    ("to_list", "toes"),
    ("_list", ""),
]

# Checked against SynaFlow 0.32.4 as well.
EXTRA_BASES = [
    ("list", "lists"),  # the bare word is not a suffix
    ("sets", "sets"),
    ("list_list", "lists"),
    ("data_set", "data"),
    ("my_tuple_list", "my_tuples"),
    ("", ""),
    ("_", "_"),
    ("__", "__"),
    ("_list_", "_list_"),
    ("a__b", "a__bs"),
    ("Tuple", "Tuples"),
    ("x_TUPLE", "x_TUPLES"),
    ("row_2", "row_2"),
    ("people", "people"),
    ("person", "people"),
]


@pytest.mark.parametrize(("name", "base"), VERIFIED_BASES + EXTRA_BASES)
def test_base_dataset_name(name, base):
    assert get_base_dataset_name(name) == base


def test_x_does_not_match_xs():
    """Pitfall kept on purpose: inflect pluralises ``x`` to ``xes``."""
    assert get_base_dataset_name("x") != get_base_dataset_name("xs")


def test_singular_plural_collection_agree():
    names = ["order", "orders", "order_list", "orders_set", "order_tuple"]
    assert {get_base_dataset_name(n) for n in names} == {"orders"}


def test_base_name_is_memoized():
    get_base_dataset_name("warehouse")
    before = get_base_dataset_name.cache_info().hits
    get_base_dataset_name("warehouse")
    assert get_base_dataset_name.cache_info().hits == before + 1


def test_import_does_not_load_inflect():
    """inflect is slow to import; it is loaded on the first name lookup."""
    code = (
        "import sys, synaflow.core.naming as n\n"
        "assert 'inflect' not in sys.modules\n"
        "n.get_base_dataset_name('row')\n"
        "assert 'inflect' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scope_joins_parts():
    scope = Scope("root", "outer")
    assert str(scope) == "root__outer"
    assert scope("load") == "root__outer__load"
    assert str(scope.scope("inner")) == "root__outer__inner"
    assert scope.scope("inner")("x") == "root__outer__inner__x"


def test_scope_value_semantics():
    assert Scope("a") == Scope("a")
    assert Scope("a", "b") != Scope("a")
    assert Scope("a") != ("a",)
    assert hash(Scope("a", "b")) == hash(Scope("a", "b"))
    assert len({Scope("a"), Scope("a"), Scope("b")}) == 2
    assert repr(Scope("a", "b")) == "Scope(parts=('a', 'b'))"
    assert Scope("a", "b").parts == ("a", "b")


def test_scope_is_frozen():
    scope = Scope("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.parts = ("b",)  # type: ignore[misc]


def test_scope_pickles():
    scope = Scope("a", "b")
    assert pickle.loads(pickle.dumps(scope)) == scope


def test_scope_needs_a_part():
    with pytest.raises(ValueError, match="at least one non-empty part"):
        Scope()


@pytest.mark.parametrize("parts", [("",), ("a", ""), (1,), ("a", None), (b"a",)])
def test_scope_rejects_bad_parts(parts):
    with pytest.raises(ValueError, match="non-empty strings"):
        Scope(*parts)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_scope_rejects_bad_names(bad):
    """Both ``.scope()`` and calling the scope validate their argument."""
    with pytest.raises(ValueError, match="non-empty strings"):
        Scope("a").scope(bad)
    with pytest.raises(ValueError, match="non-empty strings"):
        Scope("a")(bad)
