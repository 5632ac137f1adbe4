"""``python -m synaflow``: the ``synaflow`` command line."""
from synaflow.cli import main

raise SystemExit(main())
