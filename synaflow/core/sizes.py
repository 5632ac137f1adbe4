"""One parser for sizes in bytes: ``max_in_flight_bytes`` and the Ray options
``memory`` and ``object_store_threshold`` take an int or a string such as ``"64MiB"``."""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

BYTE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
UNITS_TEXT = "units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"


def parse_size(raw: Any) -> int | None:
    """Bytes for an int (not a bool) or a size string (decimal kB/MB/GB/TB, binary
    KiB/MiB/GiB/TiB, plain B); None when ``raw`` is neither.

    >>> parse_size("1.5GiB"), parse_size("2GB"), parse_size(512), parse_size("lots")
    (1610612736, 2000000000, 512, None)
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    match = _SIZE.fullmatch(raw) if isinstance(raw, str) else None
    unit = (match.group(2) or "B").lower() if match else ""
    if match is None or unit not in BYTE_UNITS:
        return None
    return int(Fraction(match.group(1)) * BYTE_UNITS[unit])
