"""The asyncio runner."""
from .executor import AsyncPipelineExecutor, async_run

__all__ = ["AsyncPipelineExecutor", "async_run"]
