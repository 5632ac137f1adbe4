"""The public surface (spec 01): ``synaflow.__all__``, documented module paths, lazy import."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import synaflow

# Spec 01 §1 (31 names), in the order 0.32.4's ``__all__`` lists them.
ALL_NAMES = [
    "pipeline", "step", "include", "StepMode", "OnError", "StepParams", "StepResult",
    "ErrorContext", "Scope", "PIPELINE_SCOPE",
    "run", "async_run", "ExecutionOverrides", "ResourceRegistry", "RunOutcome",
    "PipelineStopException", "ThresholdExceededException", "InvalidThresholdRaiseInEACHStep",
    "Observer", "PipelineEvent", "StepEvent", "MaterializationEvent",
    "PipelineRegistry", "SynaflowCli", "PreRunContext", "PostRunContext",
    "csv_serializer", "json_serializer", "jsonl_serializer", "pickle_serializer",
    "text_serializer",
]

# Spec 01 §2: dotted paths users (and custom-runner authors) import directly.
MODULE_OBJECTS = {
    "synaflow.core.dag": ["Dag", "DagNode", "OutputContract", "ConsumerContract",
                          "PublishPlan", "get_safe_type_hints",
                          "resolve_resource_output_type"],
    "synaflow.core.dag_builder": ["build_dag", "memory_materializer_factory",
                                  "log_error_materializer_factory"],
    "synaflow.core.definition": ["PipelineDef", "Step", "IncludeStep", "BaseStep"],
    "synaflow.core.types": ["MaterializeContext", "ErrorMaterializeContext", "ErrorRecord",
                            "StepMode", "OnError", "StepParams", "StepResult",
                            "ErrorContext"],
    "synaflow.core.observers": [
        "Observer", "ResolvedObserver", "PipelineEvent", "StepEvent", "MaterializationEvent",
        "PipelineStartedContext", "PipelineCompletedContext", "PipelineFailedContext",
        "StepStartedContext", "StepCompletedContext", "StepFailedContext",
        "MaterializationStartedContext", "MaterializationCompletedContext",
        "MaterializationFailedContext", "BaseObserverContext", "dispatch_observers",
        "dispatch_observers_async"],
    "synaflow.core.exceptions": ["StepExecutionError", "FanoutStreamClosedError",
                                 "PipelineStopException", "ThresholdExceededException",
                                 "InvalidThresholdRaiseInEACHStep",
                                 "PipelineDefinitionError", "ContractLoadError"],
    "synaflow.core.naming": ["get_base_dataset_name", "Scope"],
    "synaflow.core.type_compatibility": ["ListType", "get_type_name", "is_type_compatible"],
    "synaflow.core.constants": ["PIPELINE_SCOPE"],
    "synaflow.core.pipeline_registry": ["PipelineRegistry"],
}

HEAVY_MODULES = ("ray", "pyarrow", "asyncio", "pydantic", "inflect")


def test_all_is_the_31_names():
    """``__all__`` lists exactly the 31 names of spec 01 §1, in 0.32.4's order."""
    assert synaflow.__all__ == ALL_NAMES
    assert len(set(synaflow.__all__)) == 31


@pytest.mark.parametrize("name", ALL_NAMES)
def test_all_name_resolves(name):
    """Every exported name resolves from the top-level package."""
    assert getattr(synaflow, name) is not None


@pytest.mark.parametrize("module, names", sorted(MODULE_OBJECTS.items()))
def test_documented_paths_import(module, names):
    """The dotted paths of spec 01 §2 keep working."""
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert missing == []


def test_top_level_is_same_object():
    """Top-level names are the objects of their defining modules, not copies."""
    from synaflow.core import definition, exceptions, naming, types

    assert synaflow.pipeline is definition.PipelineDef
    assert synaflow.step is definition.Step
    assert synaflow.include is definition.IncludeStep
    assert synaflow.StepMode is types.StepMode
    assert synaflow.Scope is naming.Scope
    assert synaflow.PipelineStopException is exceptions.PipelineStopException
    assert synaflow.PIPELINE_SCOPE == "__pipeline__"


def test_version_is_a_string():
    """``synaflow.__version__`` exists (0.32.4 had none; the docs use it)."""
    assert isinstance(synaflow.__version__, str)
    assert synaflow.__version__.count(".") >= 1


def test_unknown_attribute_errors():
    """An unknown top-level name is an AttributeError that names it."""
    with pytest.raises(AttributeError, match="no_such_name"):
        synaflow.no_such_name  # noqa: B018


def test_exception_hierarchy():
    """Build-time errors stay catchable as ValueError/TypeError (0.32.4 ``except`` clauses)."""
    from synaflow.core.exceptions import (ContractLoadError, FanoutStreamClosedError,
                                          PipelineDefinitionError, PipelineShapeError,
                                          StepExecutionError, SynaflowError)

    assert issubclass(PipelineDefinitionError, ValueError)
    assert issubclass(PipelineShapeError, PipelineDefinitionError)
    assert issubclass(PipelineShapeError, TypeError)
    assert issubclass(ContractLoadError, SynaflowError)
    assert issubclass(FanoutStreamClosedError, RuntimeError)
    err = StepExecutionError("wrapped", step_name="s", cause=KeyError("k"))
    assert (str(err), err.step_name) == ("wrapped", "s")
    assert isinstance(err.cause, KeyError)


def test_definition_error_attributes():
    """The message pieces are attributes too: where, what, how to fix."""
    from synaflow.core.exceptions import PipelineDefinitionError

    err = PipelineDefinitionError("it is wrong", pipeline="p", step="s", param="x",
                                  fix="do better")
    assert str(err) == "Pipeline 'p', step 's', parameter 'x': it is wrong. Fix: do better"
    assert (err.pipeline_name, err.step_name, err.param_name, err.fix) == (
        "p", "s", "x", "do better")


def test_import_stays_light():
    """``import synaflow`` (and building a pipeline's names) pulls in no heavy module.

    Checked in a fresh interpreter through ``sys.modules``; no timing is asserted.
    """
    code = (
        "import sys, synaflow\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_definitions_import_no_engine():
    """Importing the build-time names does not import asyncio, ray or pyarrow."""
    code = (
        "import sys\n"
        "from synaflow import pipeline, step, include, StepMode, OnError, Scope\n"
        "print(','.join(m for m in ('ray', 'pyarrow', 'asyncio') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
