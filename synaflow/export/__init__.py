"""Export: running slices of a contract with a store between them (issue 25, in progress).

So far: ``Store``, the folder or ``pyarrow.fs`` URI that carries step outputs between
slices, with atomic writes and one manifest per finished slice; ``groups``, which
steps run together in one slice (streaming components by default);
``check_exportable``, what stops a pipeline from running slice by slice elsewhere;
``run_slice``, which runs one slice with its inputs and outputs in a store;
``run_stored``, a whole run slice by slice that resumes where it stopped, and
``load_outputs``, a stored run's outputs.
"""
from __future__ import annotations

from .checks import ExportError, check_exportable
from .grouping import Group, groups
from .runs import load_outputs, run_stored
from .slices import contract_hash, run_slice
from .store import MissingInputError, Store, StoreError

__all__ = ["Store", "StoreError", "MissingInputError", "Group", "groups",
           "ExportError", "check_exportable", "run_slice", "contract_hash",
           "run_stored", "load_outputs"]
