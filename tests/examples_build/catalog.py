"""A catalog module for ``PipelineRegistry.from_module`` (spec 08 §1)."""
from synaflow import PipelineRegistry

from .report import report
from .weather import weather

catalog = PipelineRegistry()
catalog.add(weather)
catalog.add(report)

#: Not a registry: ``from_module(..., attr="not_a_registry")`` must refuse it.
not_a_registry = {"weather": weather}
