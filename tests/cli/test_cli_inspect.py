"""list, info, dag/show, graph, schema, validate, and the catalog/usage errors (spec 08 §2)."""
from __future__ import annotations

import json

import pytest

from synaflow.cli import main

EX = ["--catalog", "examples.catalog"]


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, *args: str) -> str:
    """argparse errors raise SystemExit(2) out of main, as in 0.32.4."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    assert info.value.code == 2
    return capsys.readouterr().err


# -- list / info --------------------------------------------------------------------------------
def test_list_plain(capsys):
    code, out, err = run_main(capsys, *EX, "list")
    assert (code, err) == (0, "")
    assert out == "wordcount\t3 steps\nreport\t2 steps\nflaky\t3 steps\n"


def test_list_json(capsys):
    code, out, _ = run_main(capsys, *EX, "list", "--json")
    assert code == 0
    assert json.loads(out) == [{"name": "wordcount", "steps": 3},
                               {"name": "report", "steps": 2}, {"name": "flaky", "steps": 3}]
    assert out.startswith('[\n  {\n    "name"')  # indent=2


def test_info_plain(capsys):
    code, out, _ = run_main(capsys, *EX, "info", "report")
    assert code == 0
    assert out.splitlines() == ["name: report", "params: ReportParams", "exports: <none>",
                                "steps (2): scaled, summary"]


def test_info_json(capsys):
    code, out, _ = run_main(capsys, *EX, "info", "wordcount", "--json")
    assert code == 0
    assert json.loads(out) == {"name": "wordcount", "params": "Corpus", "exports": None,
                               "steps": ["documents", "tokens", "counts"]}


# -- dag / show / schema ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["dag", "show"])
def test_dag_and_show_print_contract(capsys, command):
    import examples.catalog as ex

    code, out, _ = run_main(capsys, *EX, command, "wordcount")
    assert code == 0
    assert out == json.dumps(ex.wordcount.dag.to_dict(), indent=2) + "\n"


def test_schema_needs_no_catalog(capsys):
    from synaflow.core.contract import contract_json_schema

    code, out, _ = run_main(capsys, "schema")
    assert code == 0
    assert json.loads(out) == contract_json_schema()


def test_schema_validates_dag_output(capsys):
    import jsonschema
    _, schema, _ = run_main(capsys, "schema")
    _, dag, _ = run_main(capsys, *EX, "dag", "wordcount")
    jsonschema.validate(json.loads(dag), json.loads(schema))


def test_schema_of_params(capsys):
    code, out, _ = run_main(capsys, *EX, "schema", "report")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "ReportParams"
    assert schema["required"] == ["values"] and schema["additionalProperties"] is False
    assert schema["properties"]["values"]["items"] == {"type": "integer"}
    assert schema["properties"]["tags"]["default"] == []


def test_params_schema_checks_params_files(capsys):
    import jsonschema
    _, out, _ = run_main(capsys, "--catalog", "cli_catalog", "schema", "kinds")
    schema = json.loads(out)
    jsonschema.validate({"count": 1, "origin": {"x": 2}, "blob": "aGk="}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"count": "many"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"count": 1, "typo": 2}, schema)


def test_schema_name_needs_catalog(capsys):
    err = usage_error(capsys, "schema", "report")
    assert "the following arguments are required: --catalog" in err


def test_schema_unknown_name(capsys):
    code, _, err = run_main(capsys, *EX, "schema", "nope")
    assert code == 1 and "pipeline 'nope' not registered" in err


# -- graph ------------------------------------------------------------------------------------------
def test_graph_mermaid_default(capsys):
    code, out, _ = run_main(capsys, *EX, "graph", "wordcount")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert '    p0[/"document_count: int"/]' in lines
    assert '    s1[["tokens [EACH]"]]' in lines
    assert '    s0 -->|"each, stream"| s1' in lines
    assert '    s1 -->|"stream, max_in_flight=8"| s2' in lines


def test_graph_dot(capsys):
    code, out, _ = run_main(capsys, *EX, "graph", "flaky", "--format", "dot")
    assert code == 0
    assert out.startswith('digraph "flaky" {\n    rankdir=LR;\n')
    assert '    s1 [label="checked [EACH]", shape=box, peripheries=2];' in out
    assert '    s0 -> s1 [label="each"];' in out
    assert '    s1 -> s2 [label="materialized"];' in out
    assert out.rstrip().endswith("}")


def test_graph_bad_format(capsys):
    err = usage_error(capsys, *EX, "graph", "flaky", "--format", "png")
    assert "invalid choice: 'png'" in err


# -- validate -----------------------------------------------------------------------------------------
def test_validate_one(capsys):
    assert run_main(capsys, *EX, "validate", "wordcount") == (0, "ok: wordcount (3 steps)\n", "")


def test_validate_all(capsys):
    code, out, _ = run_main(capsys, *EX, "validate")
    assert code == 0
    assert out.splitlines() == ["ok: wordcount (3 steps)", "ok: report (2 steps)",
                                "ok: flaky (3 steps)"]


def test_validate_module_attr(capsys):
    code, out, _ = run_main(capsys, "validate", "--module", "examples.catalog:report")
    assert (code, out) == (0, "ok: report (2 steps)\n")


def test_validate_module_registry(capsys):
    code, out, _ = run_main(capsys, "validate", "--module", "examples.catalog:catalog")
    assert code == 0 and len(out.splitlines()) == 3


BROKEN = """
    from typing import NamedTuple
    from synaflow import pipeline, step, PipelineRegistry

    class P(NamedTuple):
        n: int

    def needs_missing(nothing_here: int) -> int:
        return nothing_here

    bad = pipeline(name="bad", params=P, steps=[step("needs_missing", fn=needs_missing)])
    catalog = PipelineRegistry()
    catalog.add(bad)
"""


def test_validate_build_error_module(capsys, make_module):
    make_module("cli_broken_a", BROKEN)
    code, out, err = run_main(capsys, "validate", "--module", "cli_broken_a:bad")
    assert (code, out) == (1, "")
    assert err.startswith("synaflow: Pipeline 'bad', step 'needs_missing', parameter "
                          "'nothing_here'")


def test_validate_build_error_catalog(capsys, make_module):
    make_module("cli_broken_b", BROKEN)
    code, _, err = run_main(capsys, "--catalog", "cli_broken_b", "validate")
    assert code == 1
    assert "nothing_here" in err and err.startswith("synaflow: ")


def test_other_commands_let_build_errors_raise(capsys, make_module):
    from synaflow.core.exceptions import PipelineDefinitionError

    make_module("cli_broken_c", BROKEN)
    with pytest.raises(PipelineDefinitionError):
        main(["--catalog", "cli_broken_c", "list"])


def test_validate_module_errors(capsys, make_module):
    make_module("cli_plain_mod", "x = 5\n")
    assert run_main(capsys, "validate", "--module", "cli_nope_mod:x")[2] == \
        "synaflow: cannot find module 'cli_nope_mod'\n"
    assert run_main(capsys, "validate", "--module", "cli_plain_mod:y")[2] == \
        "synaflow: module 'cli_plain_mod' has no attribute 'y'\n"
    code, _, err = run_main(capsys, "validate", "--module", "cli_plain_mod:x")
    assert code == 1
    assert err == ("synaflow: cli_plain_mod:x must be a pipeline(...) or a PipelineRegistry, "
                   "got int\n")


def test_validate_module_syntax(capsys):
    err = usage_error(capsys, "validate", "--module", "examples.catalog")
    assert "expected MODULE:ATTRIBUTE" in err


def test_validate_name_and_module(capsys):
    err = usage_error(capsys, *EX, "validate", "report", "--module", "examples.catalog:report")
    assert "not both" in err


def test_validate_detects_mutation(capsys, make_module):
    """A definition changed after registration (forbidden, not enforced) is compiled again."""
    make_module("cli_mutated", """
        from typing import NamedTuple
        from synaflow import pipeline, step, PipelineRegistry

        class P(NamedTuple):
            n: int

        def ok(n: int) -> int:
            return n

        def orphan(missing_input: int) -> int:
            return missing_input

        p = pipeline(name="mut", params=P, steps=[step("ok", fn=ok)])
        catalog = PipelineRegistry()
        catalog.add(p)
        p.steps.append(step("orphan", fn=orphan))
    """)
    code, _, err = run_main(capsys, "--catalog", "cli_mutated", "validate", "mut")
    assert code == 1 and "missing_input" in err


# -- --catalog placement and abbreviations ------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["list", "--catalog", "examples.catalog"],
    ["list", "--json", "--catalog", "examples.catalog"],
    ["--catalog=examples.catalog", "list"],
    ["list", "--catalog=examples.catalog"],
])
def test_catalog_anywhere(capsys, args):
    code, out, _ = run_main(capsys, *args)
    assert code == 0 and "wordcount" in out


def test_catalog_anywhere_for_run(capsys):
    code, _, _ = run_main(capsys, "run", "report", "--values", "1", "--catalog",
                          "examples.catalog")
    assert code == 0


def test_abbreviated_catalog_rejected(capsys):
    err = usage_error(capsys, "--cat", "examples.catalog", "list")
    assert "invalid choice: 'examples.catalog'" in err


def test_abbreviated_subcommand_option_rejected(capsys):
    err = usage_error(capsys, *EX, "list", "--js")
    assert "unrecognized arguments: --js" in err


def test_abbreviated_run_option_rejected(capsys):
    err = usage_error(capsys, *EX, "run", "report", "--values", "1", "--no-obs")
    assert "unrecognized arguments: --no-obs" in err


# -- usage errors (exit 2) ------------------------------------------------------------------------------
def test_missing_catalog(capsys):
    err = usage_error(capsys, "list")
    assert err.splitlines()[-1] == \
        "synaflow: error: the following arguments are required: --catalog"


def test_missing_everything(capsys):
    err = usage_error(capsys)
    assert "the following arguments are required: --catalog, subcommand" in err


def test_missing_subcommand(capsys):
    err = usage_error(capsys, *EX)
    assert err.splitlines()[-1] == \
        "synaflow: error: the following arguments are required: subcommand"


def test_missing_name(capsys):
    err = usage_error(capsys, *EX, "info")
    assert "the following arguments are required: name" in err


def test_extra_argument(capsys):
    err = usage_error(capsys, *EX, "dag", "report", "extra")
    assert "unrecognized arguments: extra" in err


def test_help_exits_zero_with_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for command in ("list", "info", "dag", "show", "graph", "schema", "validate", "run"):
        assert command in out


# -- catalog and pipeline errors (exit 1) -------------------------------------------------------------------
@pytest.mark.parametrize("command", [["info", "nope"], ["dag", "nope"], ["show", "nope"],
                                     ["graph", "nope"], ["run", "nope", "--x", "1"],
                                     ["validate", "nope"]])
def test_unknown_pipeline(capsys, command):
    code, out, err = run_main(capsys, *EX, *command)
    assert (code, out) == (1, "")
    assert err == ("synaflow: pipeline 'nope' not registered. Available: flaky, report, "
                   "wordcount\n")


def test_unknown_pipeline_empty_catalog(capsys, make_module):
    make_module("cli_empty", "from synaflow import PipelineRegistry\ncatalog = PipelineRegistry()\n")
    code, _, err = run_main(capsys, "--catalog", "cli_empty", "info", "x")
    assert (code, err) == (1, "synaflow: pipeline 'x' not registered. Available: <none>\n")


@pytest.mark.parametrize("module", ["cli_no_such_module", "cli_no_such_pkg.sub",
                                    "examples.no_such_catalog"])
def test_catalog_not_found(capsys, module):
    code, _, err = run_main(capsys, "--catalog", module, "list")
    assert (code, err) == (1, f"synaflow: cannot find catalog module '{module}'\n")


def test_catalog_errors_come_before_usage_errors(capsys):
    code, _, err = run_main(capsys, "--catalog", "cli_no_such_module", "list", "extra")
    assert code == 1 and "cannot find catalog module" in err


def test_module_without_catalog(capsys, make_module):
    make_module("cli_no_attr", "x = 1\n")
    code, _, err = run_main(capsys, "--catalog", "cli_no_attr", "list")
    assert (code, err) == (1, "synaflow: module 'cli_no_attr' has no attribute 'catalog'\n")


def test_catalog_not_a_registry(capsys, make_module):
    make_module("cli_not_registry", "catalog = {'a': 1}\n")
    code, _, err = run_main(capsys, "--catalog", "cli_not_registry", "list")
    assert (code, err) == (1, "synaflow: cli_not_registry.catalog must be a PipelineRegistry, "
                              "got dict\n")


def test_missing_import_inside_catalog_propagates(make_module):
    make_module("cli_bad_import", "import cli_definitely_missing_dependency\n")
    with pytest.raises(ModuleNotFoundError, match="cli_definitely_missing_dependency"):
        main(["--catalog", "cli_bad_import", "list"])


LABELLED = """
    from typing import NamedTuple
    from synaflow import pipeline, step, PipelineRegistry

    class P(NamedTuple):
        path: str = "in.csv"

    def load(path: str) -> int:
        return len(path)

    loader = pipeline(name="loader", params=P, exports="status/loaded.json",
                      steps=[step("load", fn=load)])
    catalog = PipelineRegistry()
    catalog.add(loader)
"""


def test_exports_label_naming_no_step(capsys, make_module):
    """0.32.4's CLI docs set ``exports="status/loaded.json"`` at top level: the module
    imports, the label is shown, the pipeline runs (issue 22, item 1)."""
    make_module("cli_labelled", LABELLED)
    code, out, err = run_main(capsys, "--catalog", "cli_labelled", "info", "loader")
    assert (code, err) == (0, "")
    assert "exports: status/loaded.json" in out.splitlines()
    code, out, _ = run_main(capsys, "--catalog", "cli_labelled", "info", "loader", "--json")
    assert json.loads(out)["exports"] == "status/loaded.json"
    code, out, _ = run_main(capsys, "--catalog", "cli_labelled", "validate")
    assert (code, out) == (0, "ok: loader (1 steps)\n")
