"""``python -m synaflow``: the ``synaflow`` command line."""
from synaflow.cli import console

console()
