"""A module the Ray workers cannot import is found before anything is submitted
(issue 24, item 6). Before, it surfaced as a raw ModuleNotFoundError traceback from
inside a stage; ``debug="serialize"`` did not see it at all.

The module lives in a temporary folder that only the driver has on ``sys.path``, as
a project module does when the driver adds its folder at run time.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid

from typing import NamedTuple

import pytest
from ray import cloudpickle

from synaflow import pipeline, step
from synaflow.distributed import RayImportError, ray_run

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack test files


class P(NamedTuple):
    limit: object = None


SOURCE = textwrap.dedent('''
    from typing import NamedTuple

    class Threshold(NamedTuple):
        value: int

    def numbers() -> list[int]:
        return [1, 2, 3]

    def total(numbers: list[int]) -> int:
        return sum(numbers)
''')


@pytest.fixture
def stray(tmp_path):
    """A package ``stray_<id>`` importable by the driver only."""
    name = f"stray_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(SOURCE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(name), tmp_path / name
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def build(module, **total_options):
    return pipeline(f"imports_{module.__name__}", P, steps=[
        step("numbers", fn=module.numbers),
        step("total", fn=module.total, **total_options),
    ])


@pytest.mark.parametrize("debug", [False, "serialize"])
def test_unimportable_module_named_before_submit(stray, debug, request):
    if not debug:
        request.getfixturevalue("ray_session")
    module, folder = stray
    with pytest.raises(RayImportError) as caught:
        ray_run(build(module), P(), debug=debug)
    text = str(caught.value)
    assert f"Pipeline 'imports_{module.__name__}', step 'numbers'" in text
    assert f"cannot import module '{module.__name__}'" in text
    assert f"step 'total': function 'total' needs '{module.__name__}.total'" in text
    assert "No module named" in text
    assert f"'py_modules': ['{folder}']" in text  # the fix, with the folder to ship
    assert isinstance(caught.value, ImportError)


def test_shipped_with_the_run_passes(stray):
    """The fix the error names works: the folder shipped with ``ray_init``'s runtime_env
    (job level: Ray uploads local folders only there), checked in debug="serialize"
    mode here and on a Ray of its own in a subprocess below."""
    module, folder = stray
    ship = {"runtime_env": {"py_modules": [str(folder)]}}
    assert ray_run(build(module), P(), debug="serialize", ray_init=ship).outputs["total"] == 6


DRIVER = textwrap.dedent('''
    import importlib, json, sys
    from typing import NamedTuple
    from synaflow import pipeline, step
    from synaflow.distributed import ray_run
    class Params(NamedTuple):
        n: int = 0
    folder, name = sys.argv[1], sys.argv[2]
    sys.path.insert(0, folder)
    module = importlib.import_module(name)
    p = pipeline("shipped", Params, steps=[step("numbers", fn=module.numbers),
                                         step("total", fn=module.total)])
    ship = {"runtime_env": {"py_modules": [folder + "/" + name]}, "num_cpus": 1}
    print(json.dumps(ray_run(p, Params(), ray_init=ship).outputs["total"]))
''')


def test_shipped_on_ray(stray, tmp_path):
    module, folder = stray
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(folder.parent), module.__name__],
                          capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "6"


def test_unimportable_param_named(stray):
    module, _ = stray
    p = pipeline(f"param_{module.__name__}", P, steps=[step("double", fn=_double)])
    with pytest.raises(RayImportError, match=r"the params: params field 'limit' needs "):
        ray_run(p, P(limit=module.Threshold(3)), debug="serialize")


def _double(limit: object) -> int:
    return 2
