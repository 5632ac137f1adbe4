"""Local runners (sync and asyncio) and run-time overrides."""
from .overrides import ExecutionOverrides, MaterializerRegistry, ObserverRegistry, ResourceRegistry

__all__ = ["ExecutionOverrides", "MaterializerRegistry", "ObserverRegistry", "ResourceRegistry"]
