"""Export: running slices of a contract with a store between them (issue 25, in progress).

So far: ``Store``, the folder or ``pyarrow.fs`` URI that carries step outputs between
slices, with atomic writes and one manifest per finished slice; ``groups``, which
steps run together in one slice (streaming components by default);
``check_exportable``, what stops a pipeline from running slice by slice elsewhere.
"""
from __future__ import annotations

from .checks import ExportError, check_exportable
from .grouping import Group, groups
from .store import MissingInputError, Store, StoreError

__all__ = ["Store", "StoreError", "MissingInputError", "Group", "groups",
           "ExportError", "check_exportable"]
