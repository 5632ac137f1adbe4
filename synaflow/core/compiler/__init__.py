"""The compiler's passes, from definitions to a frozen ``Dag``.

``synaflow.core.dag_builder.build_dag`` (called by ``pipeline(...)``) runs them in
order: ``expansion`` (included pipelines flattened into steps), ``wiring``
(parameters bound to producers, modes), ``resource_wiring``, ``planning``
(materialization, consumer contracts, publish plans) and ``validation``; the per-step
state they share is ``build_state.BuildNode``. Nothing here is public API.
"""
