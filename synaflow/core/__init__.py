"""Build time: definitions, wiring, type rules and the compiled Dag contract.

Pure code: no I/O, and never imports ray, pyarrow or asyncio.
"""
