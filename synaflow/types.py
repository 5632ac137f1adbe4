"""Alias of ``synaflow.core.types``: the 0.32.4 documentation imported from here."""
from .core.types import *  # noqa: F401,F403
from .core.types import (ErrorContext, ErrorMaterializeContext, ErrorRecord,  # noqa: F401
                         MaterializeContext, OnError, StepMode, StepParams, StepResult)
