"""Example pipelines for the build-time tests, as plain importable modules.

Every module defines its functions at module level so the compiled contract can
name them (``fn_ref``) and ``Dag.from_dict`` can load them in a fresh process.
``weather``, ``words`` and ``report`` are the three examples of spec 04 §8;
``nested`` is a three-level include; ``fanout`` is a bounded lazy fan-out;
``pool`` is the function pool the property tests wire into random pipelines.

Import them as ``tests.examples_build.<module>`` with the repository root on
``sys.path`` (``tests/core/buildkit.py`` arranges that).
"""

#: Modules whose pipelines have golden files (module -> attribute).
EXAMPLES = {
    "weather": "weather",
    "words": "words",
    "report": "report",
    "nested": "root",
    "fanout": "fanout",
}

#: Modules that are not example pipelines (no golden file).
SUPPORT_MODULES = ("pool", "catalog")
