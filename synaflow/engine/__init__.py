"""Run time, written once: the rules every runner follows.

Nothing here does I/O, and nothing imports asyncio or ray. The runners
(``synaflow.execution`` for sync/asyncio, ``synaflow.distributed`` for Ray) perform
what this package decides and wait in their own way.
"""
