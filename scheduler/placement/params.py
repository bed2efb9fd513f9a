"""Knobs of one solve, and the callback through which progress leaves the solver."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# progress(event, fields): snake_case event name and flat fields, ready for a structured logger.
# Events: greedy_done, cpsat_start, cpsat_solution (each improving solution, called from inside
# the search, so keep it quick and do not raise), cpsat_done, checker_rejected.
Progress = Callable[[str, Mapping[str, object]], None]


@dataclass(frozen=True)
class SolveParams:
    """How long and how CP-SAT searches.

    With `deterministic` (the default) two solves with the same seed return the same answer:
    CP-SAT runs one worker on its deterministic clock, `time_limit_s` deterministic units (about
    one to two seconds each on a loaded 2-core machine), with a wall-clock safety cap of a few
    times that. Without it, CP-SAT runs `workers` workers for `time_limit_s` wall-clock seconds.
    `use_cpsat=False` returns the greedy answer only.
    """

    time_limit_s: float = 1.0
    seed: int = 0
    workers: int = 2
    deterministic: bool = True
    use_cpsat: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit_s, int | float) and math.isfinite(self.time_limit_s)):
            raise ValueError(f"time_limit_s must be a finite number, got {self.time_limit_s!r}")
        if self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if not 0 <= self.seed < 1 << 31:
            raise ValueError(f"seed must be in 0..2^31-1 (CP-SAT's random_seed), got {self.seed}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
