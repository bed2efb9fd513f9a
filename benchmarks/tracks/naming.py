"""Instance names in natural order, so gap2 sorts before gap10 and class1_20 before class1_120."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key: runs of digits compare as numbers, the rest as text."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in _DIGITS.split(name) if part
    )
