"""Export: a contract run slice by slice, with a store between the slices, and
scheduled by an orchestrator.

``Store``, the folder or ``pyarrow.fs`` URI that carries step outputs between slices,
with atomic writes and one manifest per finished slice; ``groups``, which steps run
together in one slice (streaming components by default); ``check_exportable``, what
stops a pipeline from running slice by slice elsewhere; ``run_slice``, which runs one
slice with its inputs and outputs in a store; ``run_stored``, a whole run slice by
slice that resumes where it stopped, and ``load_outputs``, a stored run's outputs.
``to_airflow``, ``to_dagster`` and ``to_prefect`` write a self-contained orchestrator
file that runs the slices as tasks (also ``synaflow export airflow|dagster|prefect NAME``).
"""
from __future__ import annotations

from .airflow import to_airflow
from .checks import ExportError, check_exportable
from .dagster import to_dagster
from .grouping import Group, groups
from .prefect import to_prefect
from .runs import load_outputs, run_stored
from .slices import contract_hash, run_slice
from .store import MissingInputError, Store, StoreError

__all__ = ["Store", "StoreError", "MissingInputError", "Group", "groups",
           "ExportError", "check_exportable", "run_slice", "contract_hash",
           "run_stored", "load_outputs", "to_airflow", "to_dagster", "to_prefect"]
