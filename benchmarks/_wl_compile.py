"""Build-time workload: define and compile a generated N-step pipeline (default 500).

Run unchanged in the reference interpreter and in ours; prints one JSON line with the median
(and all samples) of each phase:

* ``steps``    - the ``step(...)`` calls;
* ``pipeline`` - the ``pipeline(...)`` call (ours compiles and validates here);
* ``registry`` - ``PipelineRegistry()`` + ``add`` + ``get_dag`` (0.32.4 compiles here);
* ``total``    - the three together: definition to compiled Dag (``total_cpu``: its CPU time).

Shape: a chain ``c0 -> c1 -> ... -> c{K-1}`` (``c0`` reads the ``seed`` parameter), fan-out
leaves ``f{j}`` hanging off every 4th chain step, and one ``sink`` joining the chain's end and
the first ten leaves.  The functions (with type hints) are generated as source text and
``exec``-ed into a fresh module for every repetition, outside the timed region.
"""
import argparse
import statistics
import sys
import time
import types

import _reference as R

from synaflow import PipelineRegistry, pipeline, run, step

RESULT: dict = {}


def shape(total_steps: int) -> tuple[int, int]:
    """(chain length, leaf count) such that chain + leaves + sink == total_steps."""
    leaves = max(1, (total_steps - 1) // 5)  # 500 steps: 400 chain + 99 leaves + sink
    return total_steps - 1 - leaves, leaves


def source(total_steps: int) -> tuple[str, list[str]]:
    chain, leaves = shape(total_steps)
    lines = ["from typing import NamedTuple", "",
             "class Params(NamedTuple):", "    seed: int", "",
             "def c0(seed: int) -> int:", "    return seed + 1", ""]
    names = ["c0"]
    for i in range(1, chain):
        lines += [f"def c{i}(c{i - 1}: int) -> int:", f"    return c{i - 1} + 1", ""]
        names.append(f"c{i}")
    for j in range(leaves):
        up = f"c{(4 * j) % chain}"
        lines += [f"def f{j}({up}: int) -> int:", f"    return {up} * 2", ""]
        names.append(f"f{j}")
    joined = [f"c{chain - 1}"] + [f"f{j}" for j in range(min(10, leaves))]
    lines += [f"def sink({', '.join(f'{n}: int' for n in joined)}) -> int:",
              f"    total = {' + '.join(joined)}",
              "    RESULT['sink'] = total",
              "    return total", ""]
    names.append("sink")
    assert len(names) == total_steps, (len(names), total_steps)
    return "\n".join(lines), names


def expected_sink(total_steps: int, seed: int) -> int:
    chain, leaves = shape(total_steps)
    value = [seed + 1 + i for i in range(chain)]  # c_i = seed + 1 + i
    return value[-1] + sum(2 * value[(4 * j) % chain] for j in range(min(10, leaves)))


def fresh_module(src: str, index: int) -> types.ModuleType:
    name = f"_bench_generated_{index}"
    module = types.ModuleType(name)
    module.RESULT = RESULT
    sys.modules[name] = module
    exec(compile(src, f"<{name}>", "exec"), module.__dict__)
    return module


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    src, names = source(args.steps)
    phases: dict[str, list[float]] = {"steps": [], "pipeline": [], "registry": [], "total": [],
                                      "total_cpu": []}
    dag = params = None
    for index in range(args.repeat + 1):  # repetition 0 is a warm-up, not recorded
        module = fresh_module(src, index)
        fns = [getattr(module, n) for n in names]
        c0, t0 = time.process_time(), time.perf_counter()
        steps = [step(n, fn=f) for n, f in zip(names, fns)]
        t1 = time.perf_counter()
        p = pipeline(name=f"compile_bench_{index}", params=module.Params, steps=steps)
        t2 = time.perf_counter()
        reg = PipelineRegistry()
        reg.add(p)
        dag = reg.get_dag(f"compile_bench_{index}")
        t3, c3 = time.perf_counter(), time.process_time()
        params = module.Params
        if index:
            phases["steps"].append(t1 - t0)
            phases["pipeline"].append(t2 - t1)
            phases["registry"].append(t3 - t2)
            phases["total"].append(t3 - t0)
            phases["total_cpu"].append(c3 - c0)

    RESULT.clear()
    run(dag, params(seed=7))
    ok = RESULT.get("sink") == expected_sink(args.steps, 7) and len(dag.steps) == args.steps
    R.emit(steps=args.steps, repeat=args.repeat, ok=ok,
           **{f"{k}_median_s": statistics.median(v) for k, v in phases.items()},
           samples={k: v for k, v in phases.items()})


if __name__ == "__main__":
    main()
