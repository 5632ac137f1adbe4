"""Per-step Ray options, names, connecting, serialisability checks, entry points."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import textwrap

from typing import NamedTuple

import pytest
import ray_pipelines as rp

from synaflow import PipelineDefinitionError, pipeline, run, step
from synaflow.core.dag import Dag
from synaflow.distributed import RayPipelineExecutor, RaySerializationError, ray_run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_options_recorded_in_contract():
    """``step(..., ray={...})`` is validated at build time and kept in the JSON
    contract, exception classes by name, so a loaded contract runs the same."""
    p = rp.named(num_cpus=0.5, batch_size=4, max_retries=2,
                 retry_exceptions=[ConnectionError])
    opts = p.dag.to_dict()["steps"]["where"]["ray_options"]
    assert opts == {"num_cpus": 0.5, "batch_size": 4, "max_retries": 2,
                    "retry_exceptions": ["builtins.ConnectionError"]}
    loaded = Dag.from_dict(p.dag.to_dict())
    assert dict(loaded["where"].ray_options) == opts


@pytest.mark.parametrize("bad, word", [({"num_cpu": 1}, "unknown Ray option 'num_cpu'"),
                                       ({"replicas": 0}, "'replicas' must be an int >= 1"),
                                       ({"batch_size": "big"}, "'batch_size'")])
def test_bad_options_rejected_at_build(bad, word):
    with pytest.raises(PipelineDefinitionError, match=word):
        rp.named(**bad)


def test_step_options_validated():
    """Per-run overrides are checked like the declared ones, step names included."""
    with pytest.raises(PipelineDefinitionError, match="unknown step 'nope'"):
        RayPipelineExecutor(rp.named(), debug=True, step_options={"nope": {"num_cpus": 1}})
    with pytest.raises(PipelineDefinitionError, match="'num_gpus' must be"):
        RayPipelineExecutor(rp.named(), debug=True, step_options={"where": {"num_gpus": -1}})
    ex = RayPipelineExecutor(rp.named(batch_size=2), debug=True,
                             step_options={"where": {"batch_size": 3, "num_cpus": 1}})
    assert ex.step_options["where"] == {"batch_size": 3, "num_cpus": 1}


def test_tasks_named_after_steps(ray_session):
    """EACH batches run as tasks named ``pipeline.step``."""
    out = ray_run(rp.named(), rp.Xs([1, 2, 3])).outputs["where"]
    assert [row[0] for row in out] == [1, 2, 3]
    assert {row[1] for row in out} == {"named.where"}


def test_run_options_reach_ray(ray_session):
    """``step_options`` for one run reach the step's tasks: its runtime_env and its
    CPU reservation are what the worker sees."""
    options = {"probe": {"num_cpus": 0.5,
                         "runtime_env": {"env_vars": {"SYNAFLOW_PROBE": "42"}}}}
    out = ray_run(rp.probed(), rp.Xs([1, 2]), step_options=options).outputs["probe"]
    assert out == [(1, "42", 0.5), (2, "42", 0.5)]
    plain = ray_run(rp.probed(), rp.Xs([1])).outputs["probe"]
    assert plain == [(1, None, 1.0)]


def test_actors_named_after_steps(ray_session):
    """A step with its own actor options gets a dedicated actor named after it."""
    items, name = ray_run(rp.in_actor(num_cpus=0), rp.N(4)).outputs["actor_name_of"]
    assert items == ["a", "b", "c", "d"]
    assert name.startswith("in_actor.actor_name_of#0:")


def test_unserialisable_function_reported_before_submit(ray_session):
    """A step closing over a lock fails before anything runs, naming the step."""
    lock = threading.Lock()

    def locked(n: int) -> int:
        with lock:
            return n

    rec = rp.Recorder()
    p = rp.make("locked", rp.N, [step("locked", fn=locked)], rec)
    with pytest.raises(RaySerializationError, match="step 'locked'.*function 'test_unser"):
        ray_run(p, rp.N(1))
    assert rec.events == []  # nothing started
    with pytest.raises(RaySerializationError, match="step 'locked'"):
        ray_run(p, rp.N(1), debug="serialize")
    assert run(p, rp.N(1)).outputs["locked"] == 1  # fine in-process
    assert ray_run(p, rp.N(1), debug=True).outputs["locked"] == 1


class Held(NamedTuple):
    guard: object


def guarded(guard: object) -> str:
    return type(guard).__name__


def test_unserialisable_param_reported():
    p = pipeline(name="held", params=Held, steps=[step("guarded", fn=guarded)])
    with pytest.raises(RaySerializationError, match="params field 'guard'"):
        ray_run(p, {"guard": threading.Lock()}, debug="serialize")


def test_serialize_debug_catches_values():
    """``debug="serialize"`` finds a value that cannot leave its process, by step."""
    with pytest.raises(RaySerializationError, match="step 'returns_lock'"):
        ray_run(rp.lock_value(), rp.N(1), debug="serialize")
    assert ray_run(rp.lock_value(), rp.N(1), debug=True).outputs["returns_lock"] is not None


def test_debug_mode_needs_no_ray():
    """The debug modes run in this process and never start or connect to Ray."""
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        import ray, ray_pipelines as rp
        from ray import cloudpickle
        from synaflow.distributed import ray_run
        cloudpickle.register_pickle_by_value(rp)  # workers could not import it (checked)
        out = ray_run(rp.gen_each_sum(), rp.N(10), debug="serialize").outputs
        print(out["total"], ray.is_initialized())
    """ % os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(sum(x * x for x in range(10) if x % 7 != 3)), "False"]


def test_import_without_ray():
    """``import synaflow`` never imports ray; ``synaflow.distributed`` without Ray
    fails with one message saying how to install it."""
    code = textwrap.dedent("""
        import sys
        import synaflow
        from synaflow import run, pipeline, step
        assert "ray" not in sys.modules, "import synaflow imported ray"
        sys.modules["ray"] = None  # as if Ray were not installed
        try:
            import synaflow.distributed
        except ImportError as exc:
            print(exc)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert 'pip install "synaflow[ray]"' in res.stdout


def test_embedded_ray_started_and_stopped(tmp_path):
    """Without an address and without a running Ray, ray_run starts a quiet local
    Ray with token auth off (no token written into $HOME) and stops it after."""
    code = textwrap.dedent("""
        import os, sys
        sys.path.insert(0, %r)
        import ray, ray_pipelines as rp
        from ray import cloudpickle
        cloudpickle.register_pickle_by_value(rp)
        from synaflow.distributed import ray_run
        out = ray_run(rp.value_chain(), rp.N(2), ray_init={"num_cpus": 1}).outputs
        print(out["described"], ray.is_initialized(), os.environ.get("RAY_AUTH_MODE"))
    """ % os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    env["HOME"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=180, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split()[-3:] == ["2->6", "False", "disabled"]
    assert not (tmp_path / ".ray" / "auth_token").exists()


def test_accepts_pipeline_and_dag(mode):
    """``ray_run`` takes the pipeline object or its compiled Dag."""
    p = rp.value_chain()
    for target in (p, p.dag):
        assert rp.run_mode(mode, target, rp.N(1)).outputs == {"described": "1->4"}


def test_retry_exceptions(mode, tmp_path):
    """``retry_exceptions`` + ``max_retries``: on Ray a batch that raises a listed
    exception is retried (item 3 fails once, then works); an error that outlasts
    the retries (item 5) is reported as a row error, as in-process."""
    rec = rp.Recorder()
    p = rp.flaky_pipeline(rec, retry_exceptions=[ConnectionError], max_retries=2,
                          batch_size=8)
    out = rp.run_mode(mode, p, rp.Flaky(list(range(8)), str(tmp_path)))
    errors = rec.error_summary()
    if mode == "ray":
        assert out.outputs["flaky"] == [0, 1, 2, 3, 4, 6, 7]
        assert errors == [("flaky", "ConnectionError", 5, 1)]
        # item 3 stopped the first attempt; then two retries and the final attempt
        assert len((tmp_path / "tried-5").read_text()) == 3
    else:  # no retries outside Ray: both items fail once
        assert out.outputs["flaky"] == [0, 1, 2, 4, 6, 7]
        assert errors == [("flaky", "ConnectionError", 3, 1), ("flaky", "ConnectionError", 4, 2)]


def test_retry_exceptions_on_a_value_step_with_resources(mode, tmp_path):
    """A value step with a resource runs as a streaming task on Ray; with
    ``retry_exceptions`` its failed first attempt is run again (resource made again),
    and it is reported STARTED once and COMPLETED, as if it had not failed."""
    rec = rp.Recorder()
    p = rp.flaky_value(rec, retry_exceptions=[ConnectionError], max_retries=2)
    out = rp.run_mode(mode, p, rp.Flaky([1, 2, 3], str(tmp_path)))
    steps = [e for e, _ in rec.per_step()["flaky_total"]]
    if mode == "ray":
        assert out.outputs == {"flaky_total": 6}
        assert (tmp_path / "tried-total").read_text() == "xx"
        assert steps == ["step_started", "step_completed"]
    else:  # no retries outside Ray: the step fails, as in-process
        assert out.outputs.get("flaky_total") is None
        assert steps == ["step_started", "step_failed"]
