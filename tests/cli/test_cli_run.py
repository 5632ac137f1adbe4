"""``run``: typed flags, --param, params files, validation, runners, --json, exit codes."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

import cli_catalog
from synaflow.cli import main

CAT = ["--catalog", "cli_catalog"]
EX = ["--catalog", "examples.catalog"]


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    assert info.value.code == 2
    return capsys.readouterr().err


def seen() -> dict:
    """What the ``kinds`` step received in the last run."""
    return [v for k, v in cli_catalog.CALLS if k == "kinds"][-1]


# -- typed flags (0.32.4) ---------------------------------------------------------------------------
def test_run_prints_nothing(capsys):
    assert run_main(capsys, *CAT, "run", "kinds", "--count", "2") == (0, "", "")


def test_typed_flags(capsys):
    code, _, _ = run_main(
        capsys, *CAT, "run", "kinds", "--count", "7", "--label", "hi", "--ratio", "2.5",
        "--verbose", "--blob", "aGk=", "--ids", "1", "--ids", "2", "--flags", "yes",
        "--flags", "false", "--note", "n", "--limit", "4")
    assert code == 0
    s = seen()
    assert (s["count"], s["label"], s["ratio"], s["verbose"], s["blob"]) == \
        (7, "hi", 2.5, True, b"hi")
    assert (s["ids"], s["flags"], s["note"], s["limit"]) == ([1, 2], [True, False], "n", 4)


def test_defaults_and_optional_none(capsys):
    run_main(capsys, *CAT, "run", "kinds", "--count", "1")
    s = seen()
    assert (s["label"], s["ids"], s["note"], s["origin"], s["where"]) == \
        ("x", [], None, None, Path("."))


def test_negative_bool_flag(capsys):
    run_main(capsys, *CAT, "run", "kinds", "--count", "1", "--verbose", "--no-verbose")
    assert seen()["verbose"] is False


def test_no_flag_for_complex_fields(capsys):
    err = usage_error(capsys, *CAT, "run", "kinds", "--count", "1", "--origin", "3")
    assert "unrecognized arguments: --origin 3" in err


def test_typed_flag_help(capsys):
    with pytest.raises(SystemExit) as info:
        main([*CAT, "run", "kinds", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--count VALUE" in out and "int (required)" in out
    assert "--verbose, --no-verbose" in out and "list[int], repeatable" in out
    assert "--origin" not in out and "exit codes:" in out


@pytest.mark.parametrize("flag,value,message", [
    ("--count", "x", "argument --count: invalid parse value: 'x': expected int"),
    ("--ratio", "fast", "argument --ratio: invalid parse value: 'fast': expected float"),
    ("--ids", "1.5", "argument --ids: invalid parse value: '1.5': expected int"),
    ("--flags", "maybe", "argument --flags: invalid parse value: 'maybe': expected bool"),
    ("--blob", "!!", "argument --blob: must be valid base64"),
])
def test_bad_typed_value_exit_2(capsys, flag, value, message):
    err = usage_error(capsys, *CAT, "run", "kinds", "--count", "1", flag, value)
    assert err.splitlines()[-1] == f"synaflow run: error: {message}"


def test_flag_without_value(capsys):
    err = usage_error(capsys, *CAT, "run", "kinds", "--count")
    assert "argument --count: expected one argument" in err


# -- --param --------------------------------------------------------------------------------------------
def test_param_json_values(capsys):
    run_main(capsys, *CAT, "run", "kinds", "--param", "count=3", "--param", "ids=[4, 5]",
             "--param", 'origin={"x": 1, "y": 2}', "--param", 'meta={"a": 1}',
             "--param", "where=/tmp", "--param", "temp=21.5")
    s = seen()
    assert (s["count"], s["ids"], s["origin"], s["meta"]) == \
        (3, [4, 5], cli_catalog.Point(1, 2), {"a": 1})
    assert s["where"] == Path("/tmp") and s["temp"].degrees == 21.5


def test_param_str_field_takes_json_strings(capsys):
    """``--param`` values are JSON: a str field takes a JSON string or plain text, and
    ``null`` only when it is Optional (issue 24, item 3: ``=5``/``=null`` ran)."""
    run_main(capsys, *CAT, "run", "kinds", "--param", "count=1", "--param", 'label="42"',
             "--param", "note=null", "--param", "where=/var/log")
    assert (seen()["label"], seen()["note"], seen()["where"]) == ("42", None, Path("/var/log"))


@pytest.mark.parametrize("given, reads", [("label=5", "JSON int"), ("label=null", "JSON null"),
                                          ("label=true", "JSON bool")])
def test_param_str_field_refuses_json_scalars(capsys, given, reads):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--param", "count=1", "--param", given)
    key, _, text = given.partition("=")
    assert code == 2
    assert f"field '{key}' expects str, and {text} reads as {reads}" in err
    assert f"""Fix: quote it, --param '{key}="{text}"', or use --label {text}""" in err
    assert cli_catalog.CALLS == []


def test_param_int_field_refuses_bool(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--param", "count=true")
    assert (code, err) == (2, "synaflow: invalid params for Kinds: field 'count': expected int, "
                              "got True (bool)\n")
    assert cli_catalog.CALLS == []


def test_typed_flag_beats_param(capsys):
    run_main(capsys, *CAT, "run", "kinds", "--param", "count=1", "--count", "9")
    assert seen()["count"] == 9


def test_param_without_equals(capsys):
    err = usage_error(capsys, *CAT, "run", "kinds", "--param", "count")
    assert "argument --param: expected KEY=VALUE, got 'count'" in err


def test_param_unknown_field(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--count", "1", "--param", "zz=1")
    assert (code, err) == (1, "synaflow: Unknown params field(s) for Kinds: ['zz']\n")


# -- params files -----------------------------------------------------------------------------------------
def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_params_file_json(capsys, tmp_path):
    path = write(tmp_path, "p.json", json.dumps(
        {"count": 5, "blob": "aGk=", "origin": {"x": 3}, "ids": [1], "meta": {"k": 2}}))
    assert run_main(capsys, *CAT, "run", "kinds", "--params-file", path)[0] == 0
    s = seen()
    assert (s["count"], s["blob"], s["origin"], s["ids"], s["meta"]) == \
        (5, b"hi", cli_catalog.Point(3, 0), [1], {"k": 2})


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_params_file_yaml(capsys, tmp_path, suffix):
    import yaml  # noqa: F401  (dev extra)
    path = write(tmp_path, "p" + suffix, "count: 4\nids: [1, 2]\nnote: hello\nverbose: true\n")
    assert run_main(capsys, *CAT, "run", "kinds", "--params-file", path)[0] == 0
    assert (seen()["count"], seen()["ids"], seen()["note"], seen()["verbose"]) == \
        (4, [1, 2], "hello", True)


def test_flags_override_file(capsys, tmp_path):
    path = write(tmp_path, "p.json", '{"count": 1, "ids": [1, 2], "label": "file"}')
    run_main(capsys, *CAT, "run", "kinds", "--params-file", path, "--ids", "9",
             "--param", "label=param")
    assert (seen()["count"], seen()["ids"], seen()["label"]) == (1, [9], "param")


def test_params_file_missing(capsys, tmp_path):
    path = str(tmp_path / "missing.json")
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert code == 1
    assert err == (f"synaflow: cannot read params file '{path}': [Errno 2] No such file or "
                   f"directory: '{path}'\n")


def test_params_file_is_directory(capsys, tmp_path):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", str(tmp_path))
    assert code == 1 and "Is a directory" in err


def test_params_file_invalid_json(capsys, tmp_path):
    path = write(tmp_path, "bad.json", '{"count": 2,\n')
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert code == 1
    assert err == (f"synaflow: cannot read params file '{path}': invalid JSON (Expecting "
                   "property name enclosed in double quotes at line 2 col 1)\n")


def test_params_file_invalid_yaml(capsys, tmp_path):
    import yaml  # noqa: F401  (dev extra)
    path = write(tmp_path, "bad.yaml", "count: [1,\n")
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert code == 1
    assert err.startswith(f"synaflow: cannot read params file '{path}': invalid YAML (")
    assert "line" in err


@pytest.mark.parametrize("name,text,kind,got", [
    ("a.json", "[1]", "a JSON object", "list"),
    ("n.json", "null", "a JSON object", "NoneType"),
    ("s.yaml", "- 1\n", "a YAML mapping", "list"),
])
def test_params_file_not_an_object(capsys, tmp_path, name, text, kind, got):
    import yaml  # noqa: F401  (dev extra)
    path = write(tmp_path, name, text)
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert (code, err) == (1, f"synaflow: params file '{path}' must contain {kind}, got {got}\n")


# -- params checks -----------------------------------------------------------------------------------------
def test_unknown_fields_sorted(capsys, tmp_path):
    path = write(tmp_path, "p.json", '{"count": 1, "zzz": 1, "yyy": 2}')
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert (code, err) == (1, "synaflow: Unknown params field(s) for Kinds: ['yyy', 'zzz']\n")


def test_missing_required(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "kinds")
    assert (code, err) == (1, "synaflow: Missing required params field(s) for Kinds: ['count']\n")


def test_cannot_construct(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "positive", "--n", "0")
    assert (code, err) == (1, "synaflow: Cannot construct Positive from provided params: "
                              "n must be positive\n")


def test_reserved_fields(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "reserved")
    assert (code, err) == (1, "synaflow: Pipeline params cannot use reserved CLI field(s): "
                              "['no_observers', 'params_file']\n")


def test_clashing_fields_get_no_flag(capsys):
    """Fields named like CLI options keep the option; set them with --param instead."""
    code, out, _ = run_main(capsys, *CAT, "run", "clashing", "--runner", "sync", "--param",
                            "runner=theirs", "--param", "json=true", "--no-observers")
    assert (code, out) == (0, "")
    assert cli_catalog.CALLS[-1] == ("clash", (True, "theirs", True))


# -- pydantic validation (exit 2) ------------------------------------------------------------------------------
def test_wrong_type_exit_2(capsys, tmp_path):
    path = write(tmp_path, "p.json", '{"count": "abc"}')
    code, out, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert (code, out) == (2, "")
    assert err == ("synaflow: invalid params for Kinds: field 'count': expected int, got 'abc' "
                   "(str, which is not read as int: pass the value itself)\n")
    assert cli_catalog.CALLS == []


def test_all_field_errors_listed(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--param", "count=1.5",
                            "--param", "verbose=maybe", "--param", "ids=[1, \"x\"]",
                            "--param", "origin={}")
    assert code == 2
    assert err.startswith("synaflow: invalid params for Kinds: ")
    assert "field 'count': expected int, got 1.5" in err
    assert "field 'verbose': expected bool, got 'maybe'" in err
    assert "field 'ids': expected list[int], got [1, 'x'] (list) (at [1]: Input should be a " \
           "valid integer" in err
    assert "field 'origin': expected Optional[Point], got {} (dict) (Missing required field(s) " \
           "for Point: ['x']" in err
    assert err.count("; ") == 3


def test_bad_base64_in_file(capsys, tmp_path):
    path = write(tmp_path, "p.json", '{"count": 1, "blob": "!!"}')
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file", path)
    assert code == 2 and "field 'blob': expected Optional[bytes], got '!!'" in err


def test_unknown_class_called_with_value(capsys):
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--count", "1",
                            "--param", "temp=warm")
    assert code == 2 and "field 'temp': expected Optional[Celsius], got 'warm'" in err


@pytest.mark.parametrize("text, field, got", [
    ('{"count": "700"}', "count", "expected int, got '700' (str, which is not read as int"),
    ('{"count": 1, "label": 7}', "label", "expected str, got 7 (int)"),
    ('{"count": 1, "origin": {"x": "3"}}', "origin", "expected Optional[Point], got {'x': '3'}"),
])
def test_params_file_strings_not_coerced(capsys, tmp_path, text, field, got):
    """A params file's values are JSON values: "700" is a string, 7 a number (issue 24,
    item 3: 0.32.4 converted them with the field type, silently)."""
    code, _, err = run_main(capsys, *CAT, "run", "kinds", "--params-file",
                            write(tmp_path, "p.json", text))
    assert code == 2 and f"field '{field}': {got}" in err
    assert cli_catalog.CALLS == []


# -- observers and --json ---------------------------------------------------------------------------------------
def test_observers_called(capsys):
    run_main(capsys, *CAT, "run", "observed")
    assert ("observer", "pipeline_started") in cli_catalog.CALLS


def test_no_observers(capsys):
    run_main(capsys, *CAT, "run", "observed", "--no-observers")
    assert not [c for c in cli_catalog.CALLS if c[0] == "observer"]


def test_json_result(capsys):
    code, out, err = run_main(capsys, *EX, "run", "wordcount", "--document-count", "5",
                              "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["pipeline"] == "wordcount" and data["status"] == "succeeded"
    assert sum(data["outputs"]["counts"].values()) == 5 * 40
    assert data["steps"]["tokens"] == {"status": "ok", "items_in": 5, "items_out": 5,
                                       "errors": 0, "reason": None}
    assert data["wall_time_s"] >= 0 and data["run_id"]


def test_json_repr_for_unserializable(capsys):
    code, out, _ = run_main(capsys, *CAT, "run", "kinds", "--count", "1", "--json")
    echo = json.loads(out)["outputs"]["echo"]
    assert echo["where"] == "PosixPath('.')" or echo["where"].endswith("Path('.')")
    assert echo["count"] == 1


def test_completed_with_errors_warns(capsys):
    code, out, err = run_main(capsys, *CAT, "run", "partial", "--n", "4", "--json")
    assert code == 0
    assert json.loads(out)["status"] == "completed_with_errors"
    assert err.splitlines()[-1] == ("synaflow: warning: pipeline 'partial' completed with "
                                    "errors: step 'odd_only' failed (2 error(s))")


def test_fail_on_errors_exits_3(capsys):
    """--fail-on-errors: a run that completed with errors exits 3 (issue 24, item 10);
    a clean run still exits 0."""
    code, _, err = run_main(capsys, *CAT, "run", "partial", "--n", "4", "--fail-on-errors")
    assert code == 3
    assert "completed with errors" in err.splitlines()[-1]
    code, _, _ = run_main(capsys, *CAT, "run", "partial", "--n", "0", "--fail-on-errors")
    assert code == 0


def test_pipeline_exception_propagates(capsys):
    from synaflow import PipelineStopException

    with pytest.raises(PipelineStopException):
        main([*CAT, "run", "stopping"])


# -- runners -------------------------------------------------------------------------------------------------------
def test_async_pipeline_default_runner(capsys):
    code, out, _ = run_main(capsys, *CAT, "run", "asynchronous", "--n", "5", "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"halve": 2.5}


def test_async_runner_runs_sync_pipeline(capsys):
    code, out, _ = run_main(capsys, *EX, "run", "flaky", "--items", "3", "--runner", "async",
                            "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"total": 6}


@pytest.mark.parametrize("runner", ["sync", "ray", "debug"])
def test_sync_runner_refuses_async_pipeline(capsys, runner):
    code, _, err = run_main(capsys, *CAT, "run", "asynchronous", "--runner", runner)
    assert code == 1
    assert err == ("synaflow: pipeline 'asynchronous' has async steps, so it needs the asyncio "
                   f"runner; use --runner async instead of --runner {runner}\n")


def test_address_needs_ray(capsys):
    err = usage_error(capsys, *EX, "run", "flaky", "--address", "ray://x:1")
    assert "--address is only used with --runner ray" in err


def test_unknown_runner(capsys):
    err = usage_error(capsys, *EX, "run", "flaky", "--runner", "spark")
    assert "invalid choice: 'spark'" in err


@pytest.fixture
def fake_ray(monkeypatch):
    """A stand-in ``synaflow.distributed`` recording how ``ray_run`` was called."""
    calls = []

    def ray_run(pipeline, params, overrides=None, **options):
        from synaflow import run

        calls.append((pipeline.name, params, overrides, options))
        return run(pipeline, params, overrides)

    module = types.ModuleType("synaflow.distributed")
    module.ray_run = ray_run
    monkeypatch.setitem(sys.modules, "synaflow.distributed", module)
    return calls


def test_runner_ray_passes_address(capsys, fake_ray):
    code, out, _ = run_main(capsys, *EX, "run", "flaky", "--items", "2", "--runner", "ray",
                            "--address", "ray://head:10001", "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"total": 3}
    assert fake_ray[0][0] == "flaky" and fake_ray[0][3] == {"address": "ray://head:10001"}


def test_runner_debug(capsys, fake_ray):
    assert run_main(capsys, *EX, "run", "flaky", "--runner", "debug")[0] == 0
    assert fake_ray[0][3] == {"debug": True}


def test_ray_not_importable_exit_1(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "synaflow.distributed", None)
    code, _, err = run_main(capsys, *EX, "run", "flaky", "--runner", "ray")
    assert code == 1
    assert err.startswith("synaflow: --runner ray needs the Ray runner, which cannot be "
                          "imported: ")


def test_check_types_flag(capsys, tmp_path, monkeypatch):
    """``run --check-types`` is ``check_types=True`` (issue 24, item 11)."""
    (tmp_path / "typed_catalog.py").write_text(
        "from typing import NamedTuple\n"
        "from synaflow import PipelineRegistry, pipeline, step\n"
        "class P(NamedTuple):\n"
        "    n: int = 2\n"
        "def half(n: int) -> int:\n"
        "    return n / 2\n"
        "catalog = PipelineRegistry()\n"
        "catalog.add(pipeline(name='typed', params=P, steps=[step('half', fn=half)]))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = run_main(capsys, "--catalog", "typed_catalog", "run", "typed", "--json")
    assert code == 0 and json.loads(out)["outputs"] == {"half": 1.0}
    code, out, err = run_main(capsys, "--catalog", "typed_catalog", "run", "typed", "--json",
                              "--check-types")
    data = json.loads(out)
    assert code == 0 and data["status"] == "completed_with_errors" and data["outputs"] == {}
    assert data["steps"]["half"]["errors"] == 1
    assert "step 'half' failed (1 error(s))" in err
