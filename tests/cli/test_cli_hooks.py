"""``SynaflowCli``: a fixed catalog, ``pre_run``/``post_run`` hooks (spec 08 §3)."""
from __future__ import annotations

import pytest

import cli_catalog
from synaflow import PipelineStopException
from synaflow.cli import (CLIUsageError, PostRunContext, PreRunContext, RunOutcome,
                          SynaflowCli)


def test_catalog_must_be_registry():
    with pytest.raises(TypeError, match="catalog must be a PipelineRegistry, got dict"):
        SynaflowCli(catalog={})


def test_contexts_are_frozen_dataclasses():
    outcome = RunOutcome("succeeded", None)
    with pytest.raises(AttributeError):
        outcome.status = "failed"
    assert list(PreRunContext.__dataclass_fields__) == ["pipeline", "dag", "params",
                                                        "observers_enabled"]
    assert list(PostRunContext.__dataclass_fields__)[-1] == "outcome"
    assert issubclass(CLIUsageError, Exception) and CLIUsageError.exit_code == 1


def test_same_commands_without_catalog_option(capsys):
    cli = SynaflowCli(catalog=cli_catalog.catalog)
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "kinds\t1 steps"


def test_catalog_option_is_an_error(capsys):
    cli = SynaflowCli(catalog=cli_catalog.catalog)
    with pytest.raises(SystemExit) as info:
        cli.main(["--catalog", "cli_catalog", "list"])
    assert info.value.code == 2
    assert "invalid choice: 'cli_catalog'" in capsys.readouterr().err


def test_usage_error_returns_1(capsys):
    cli = SynaflowCli(catalog=cli_catalog.catalog)
    assert cli.main(["run", "nope"]) == 1
    assert capsys.readouterr().err.startswith("synaflow: pipeline 'nope' not registered.")


def test_pre_run_replaces_params_and_post_run_sees_success():
    events = []

    def pre_run(ctx):
        events.append(("pre", ctx.pipeline.name, ctx.params, ctx.observers_enabled,
                       ctx.dag is ctx.pipeline.dag))
        return ctx.params._replace(n=10)

    def post_run(ctx):
        events.append(("post", ctx.outcome, ctx.params))

    cli = SynaflowCli(catalog=cli_catalog.catalog, pre_run=pre_run, post_run=post_run)
    assert cli.main(["run", "observed", "--n", "2", "--no-observers"]) == 0
    assert events[0] == ("pre", "observed", cli_catalog.Small(2), False, True)
    assert events[1] == ("post", RunOutcome("succeeded", None), cli_catalog.Small(10))


def test_pre_run_must_return_params_class():
    cli = SynaflowCli(catalog=cli_catalog.catalog, pre_run=lambda ctx: {"n": 1})
    with pytest.raises(TypeError, match="pre_run must return Small, got dict"):
        cli.main(["run", "observed"])
    assert cli_catalog.CALLS == []  # nothing ran


def test_failure_reaches_post_run_and_is_reraised():
    outcomes = []
    cli = SynaflowCli(catalog=cli_catalog.catalog, post_run=lambda c: outcomes.append(c.outcome))
    with pytest.raises(PipelineStopException) as info:
        cli.main(["run", "stopping"])
    assert outcomes == [RunOutcome("failed", info.value)]


def test_failing_post_run_chains_pipeline_error():
    def post_run(ctx):
        raise KeyError("post")

    cli = SynaflowCli(catalog=cli_catalog.catalog, post_run=post_run)
    with pytest.raises(KeyError) as info:
        cli.main(["run", "stopping"])
    assert isinstance(info.value.__cause__, PipelineStopException)
    with pytest.raises(KeyError) as info:
        cli.main(["run", "observed"])
    assert info.value.__cause__ is None


def test_hooks_only_around_run(capsys):
    calls = []
    cli = SynaflowCli(catalog=cli_catalog.catalog, pre_run=calls.append,
                      post_run=calls.append)
    assert cli.main(["info", "observed"]) == 0
    assert calls == []
