"""How the solver reaches the cycle's log: its progress events and its per-stage timings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

import structlog

from scheduler.placement import Timings

log = structlog.get_logger("suanchou.cycle")


def solver_progress(event: str, fields: Mapping[str, object]) -> None:
    """The engine's progress events (scheduler.placement.Progress) as `solver_<event>` lines at
    debug level, carrying the cycle's bound `cycle=N`. Called from inside the search: a few per
    cycle, and nothing here may raise or block."""
    log.debug(f"solver_{event}", **{k: v for k, v in fields.items() if k != "event"})


def solver_ms(timings: Timings) -> dict[str, float]:
    """Every field of the solver's Timings, `build_ms` as `build`: a new stage appears in
    cycle_completed without a change here."""
    return {k.removesuffix("_ms"): float(v) for k, v in asdict(timings).items()}
