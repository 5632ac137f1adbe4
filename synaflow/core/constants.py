"""Constants shared by build time and run time."""

#: Override key for pipeline-level observers (see ExecutionOverrides).
PIPELINE_SCOPE = "__pipeline__"

#: Separator of flattened sub-pipeline step names (``outer__inner__step``).
SCOPE_SEPARATOR = "__"
