"""Parsing of structured flag values (`--label k=v`, `--price cpu=0.05,memory=0.01`)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from scheduler.cli.errors import UsageError


def key_values(pairs: Iterable[str], flag: str) -> dict[str, str]:
    """`["k=v", ...]` from a repeated flag; a repeated key keeps its last value."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def prices(text: str, flag: str = "--price") -> dict[str, float]:
    """`cpu=0.05,memory=0.01,nvidia.com/gpu=8` into yuan per unit-hour by resource name."""
    parts = [part for part in text.split(",") if part.strip()]
    out: dict[str, float] = {}
    for name, value in key_values(parts, flag).items():
        try:
            price = float(value)
        except ValueError:
            raise UsageError(f"{flag} {name}={value!r}: not a number") from None
        if not math.isfinite(price) or price < 0:
            raise UsageError(f"{flag} {name}={value}: must be a non-negative number")
        out[name] = price
    return out
