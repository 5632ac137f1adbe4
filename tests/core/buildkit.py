"""Shared helpers of the build-time tests (not a test module).

Importing it puts the repository root on ``sys.path`` so the example pipelines
import as ``tests.examples_build.<module>``: the same dotted names the golden
files record in ``fn_ref``, and the ones a fresh subprocess imports back.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synaflow.core.exceptions import PipelineDefinitionError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.examples_build import EXAMPLES  # noqa: E402

EXAMPLE_PACKAGE = "tests.examples_build"


def example(module: str) -> Any:
    """The pipeline object of an example module (see ``EXAMPLES``)."""
    mod = importlib.import_module(f"{EXAMPLE_PACKAGE}.{module}")
    return getattr(mod, EXAMPLES[module])


def _env(hash_seed: str) -> dict[str, str]:
    return dict(os.environ, PYTHONHASHSEED=hash_seed,
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                         os.environ.get("PYTHONPATH")])))


def run_python(code: str, *, hash_seed: str = "0", stdin: str | None = None,
               timeout: float = 120) -> str:
    """Run ``code`` in a fresh interpreter (repo root importable) and return its stdout."""
    return run_pythons([(code, hash_seed, stdin)], timeout=timeout)[0]


def run_pythons(jobs: list[tuple[str, str, str | None]], *, timeout: float = 120) -> list[str]:
    """Run several ``(code, hash_seed, stdin)`` fresh interpreters at once; their stdouts."""
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(seed), cwd=str(ROOT)) for code, seed, _ in jobs]
    outs = []
    for proc, (_, _, stdin) in zip(procs, jobs):
        out, err = proc.communicate(stdin, timeout=timeout)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def raises_definition(fn, *phrases: str, step: str | None = None,
                      param: str | None = None) -> PipelineDefinitionError:
    """Call ``fn``; it must raise PipelineDefinitionError whose text has every phrase."""
    with pytest.raises(PipelineDefinitionError) as info:
        fn()
    text = str(info.value)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    if step is not None:
        assert info.value.step_name == step, text
    if param is not None:
        assert info.value.param_name == param, text
    return info.value


def contract(p: Any) -> dict[str, Any]:
    """``p.to_dict()`` after a JSON round trip (what a file or another process sees)."""
    return json.loads(json.dumps(p.to_dict()))


def step_json(p: Any, name: str) -> dict[str, Any]:
    return p.to_dict()["steps"][name]


_NO_RETURN = object()


def make_fn(name: str, params: dict[str, Any] | list[str], ret: Any = _NO_RETURN, *,
            kind: str = "sync") -> Any:
    """A function ``name(<params>)`` with exactly the given annotations.

    ``params`` maps parameter names to annotations (``None`` = unannotated), or is a
    list of unannotated names; ``ret`` is the return annotation (omitted by default);
    ``kind`` is ``sync``, ``gen``, ``async`` or ``agen`` (what ``fn_kind`` sees).
    The body does nothing useful: these functions are compiled, never run.
    """
    names = list(params)
    body = {"sync": "return None", "gen": "yield None", "async": "return None",
            "agen": "yield None"}[kind]
    prefix = "async " if kind in ("async", "agen") else ""
    namespace: dict[str, Any] = {"__name__": "buildkit_generated"}
    exec(f"{prefix}def {name}({', '.join(names)}):\n    {body}\n", namespace)
    fn = namespace[name]
    annotations = {} if isinstance(params, list) else {
        k: v for k, v in params.items() if v is not None}
    if ret is not _NO_RETURN:
        annotations["return"] = ret
    fn.__annotations__ = annotations
    return fn


def is_stream_annotation(tp: Any) -> bool:
    """Whether a producer annotated ``tp`` should be written as a generator function."""
    import collections.abc as cabc
    import typing

    origin = typing.get_origin(tp) or tp
    return origin in (cabc.Iterator, cabc.Generator)
