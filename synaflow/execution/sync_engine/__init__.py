"""The synchronous in-process runner (also the single-process debug mode)."""
from .executor import PipelineExecutor, run

__all__ = ["PipelineExecutor", "run"]
