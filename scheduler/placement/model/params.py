"""Knobs of one v2 solve (`EngineParams`) and its two callbacks: `Progress`, through which
progress leaves it, and `ShouldStop`, through which the caller may end it early."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from scheduler.placement.model.limits import MAX_WEIGHT
from scheduler.placement.model.problem import ObjectiveWeights


class Progress(Protocol):
    """`progress(event, fields)`: what a solve is doing, as it does it (`solve(progress=...)`).

    Called on the solving thread, synchronously: after each stage (regret_done,
    baselines_done, baselines_skipped, node_fill_done, lp_skipped -- too many pairs, or priced
    by the regret start --, lp_done, lp_round_done, cpsat_start, cpsat_done, focus_done,
    reassign_done, lns_done), after each step of the focused search and of LNS (focus_step,
    lns_step, lns_improved), when the checker rejects a candidate (checker_rejected), when the
    run ends early (early_stop: `after` names the last stage, `reason` is gap_target,
    should_stop or time_limit -- wall-clock mode, the limit spent before the next stage), and
    from inside CP-SAT's search at each solution it finds (cpsat_solution).
    `event` is a snake_case name and `fields` flat values, ready for a structured logger.

    It may log, count or record what it hears; it must return quickly (it runs inside the
    search's time) and must not raise: an exception ends the solve without an answer.
    """

    def __call__(self, event: str, fields: Mapping[str, object], /) -> None: ...


class ShouldStop(Protocol):
    """`should_stop()`: True when the caller wants the solve to end now (`solve(should_stop=...)`).

    Asked between two stages, between two steps of the focused search and of LNS, where the
    reassignment search reads its clock, from inside CP-SAT's search at each solution it finds
    (the same hook as the gap target's stop), every 16 job or node classes while the LP bound
    is built and every 20 ms while GLOP solves it (by a watcher thread that then interrupts
    the solve; the bound is what a time limit would have left: valid, looser), and wherever
    the other stages read their deadline: the regret stage's pricing steps, repair, descent
    and restarts, each node the node-fill rules open, each move of the packing search after
    the LP rounding, and between two rules of the greedy baselines (the first always runs).
    A long stretch in between (one baseline rule and the queue's best fit, one pass each of
    the LP plan's packing and fill, a CP-SAT search that finds no new solution) runs to its
    own end first. Once it says True the solve skips what is left and returns its best
    checked answer, never a worse one than it holds; the early_stop progress event says
    `reason: should_stop`.

    It must be cheap (it may be asked thousands of times), must not raise, may be asked from
    another thread than the solve's, and should keep saying True once it has: a
    `threading.Event`'s `is_set`, a deadline or a shutdown flag. In deterministic mode the
    answer then depends on when it said True.
    """

    def __call__(self) -> bool: ...


# Wall seconds per CP-SAT deterministic unit, measured on the 2-core development machine (a
# least-squares fit over LNS pieces of the synthetic S city gave 2.9 s under a load of 3; one to
# two on a quiet machine). Deterministic mode converts its budget with it, so time_limit_s
# means roughly wall seconds in both modes.
WALL_PER_DET = 2.0

# Exact CP-SAT takes the whole problem when its model has at most this many (job class, node)
# placement pairs; above it, large-neighbourhood search over pieces of about `lns_pairs`
# pairs. Measured on the 2-core machine with synthetic cities of 60-600 jobs, deterministic,
# 2 s and 5 s budgets (value against the tighter bound, exact / LNS): 322 pairs 1.0 / 1.0;
# 1,209 pairs 0.9985 / 0.9985; 2,198 pairs 0.9981 / 0.9999; 3,877 pairs 0.9983 / 0.9997
# (and the exact run overshot 5 s to 13 s); 11,134 pairs 0.9892 / 0.9979.
EXACT_MAX_PAIRS = 1_500
LNS_PAIRS = 4_000


@dataclass(frozen=True)
class EngineParams:
    """How long and how the v2 engine searches.

    `deterministic` (the default): the same problem, seed and parameters give the same answer.
    CP-SAT then runs one worker on its deterministic clock, and the search budget is
    `time_limit_s` converted to deterministic units (WALL_PER_DET) -- about that many wall
    seconds, more on a loaded machine. A wall-clock safety cap of `wall_factor` x time_limit_s
    stops a search early; only reaching it can make two runs differ, and the outcome then
    carries a note. Without it, CP-SAT uses `workers` workers and `time_limit_s` is wall-clock
    seconds for the whole solve, greedy and LP included.

    `gap_target`: stop as soon as the best answer is within this relative gap of the best upper
    bound, (bound - value) / |bound| <= gap_target, the same gap `Outcome.gap` reports. It is
    checked after every stage (warm start, LP bound, LP rounding, each piece of the warm
    start's focused search, baselines), between LNS steps and at every CP-SAT solution. 0 (the
    default) spends the whole budget unless the answer is proven optimal, as before. An early
    stop may skip the greedy baselines (then `greedy_value` is None): the guarantee is then
    the gap, not "at least the best greedy". In deterministic mode a stop is deterministic too:
    it depends only on values, never on the clock. A good warm start changes the order of the
    stages whatever the target (engine.py's module docstring).
    """

    time_limit_s: float = 2.0
    deterministic: bool = True
    seed: int = 0
    workers: int = 2
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    # Engines to run; switching one off is for benchmarks and tests that isolate another.
    use_lp: bool = True
    use_cpsat: bool = True
    use_lns: bool = True
    exact_max_pairs: int = EXACT_MAX_PAIRS
    # Above this many jobs only the best_fit baseline runs (the fallback), not all four.
    all_baselines_max_jobs: int = 20_000
    lns_pairs: int = LNS_PAIRS
    # CP-SAT limit of one LNS piece, seconds: pieces find their improvements within ~0.3 s
    # (measured on the synthetic S city) and then only polish costs.
    lns_step_s: float = 0.2
    wall_factor: float = 3.0
    gap_target: float = 0.0
    # The reassignment search's late acceptance (problems whose running work may move) on the
    # compiled kernel (search/kernel/, numba) instead of numpy: about 5x the evaluated moves per
    # second and a lower cost on each of ROADEF a2_1-a2_5 at 30 s (benchmarks/README.md, "The
    # move kernel"). Its first use in a process loads it from numba's cache (0.3 s), or
    # compiles it when the cache is cold (about 19 s: `python -m scheduler.placement.search.kernel`
    # after an install fills the cache).
    move_kernel: bool = True
    # Bin elimination after the node-fill rules on problems shaped as vector bin packing
    # (greedy/bin_elimination.py: close a node, repair onto the others); off for ablations.
    bin_elimination: bool = True
    # The best-fit greedy puts a GPU gang's replicas on as few nodes as room allows
    # (greedy/placer.py, Greedy._compact), so whole GPU nodes stay free for the gangs that
    # need them; best fit then runs first among the baselines, to win their ties. Off by
    # default: the objective does not see it (a tie-break of the greedy start), and the
    # published tracks' baselines are the plain rules; the scheduler turns it on.
    compact_gangs: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit_s, int | float) and math.isfinite(self.time_limit_s)):
            raise ValueError(f"time_limit_s must be a finite number, got {self.time_limit_s!r}")
        if self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if not 0 <= self.seed < 1 << 31:
            raise ValueError(f"seed must be in 0..2^31-1 (CP-SAT's random_seed), got {self.seed}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.exact_max_pairs < 0 or self.lns_pairs < 1:
            raise ValueError("exact_max_pairs must be >= 0 and lns_pairs >= 1")
        if self.lns_step_s <= 0:
            raise ValueError(f"lns_step_s must be > 0, got {self.lns_step_s}")
        if self.wall_factor < 1:
            raise ValueError(f"wall_factor must be >= 1, got {self.wall_factor}")
        gap = self.gap_target
        # bool is an int subclass: gap_target=True would silently mean 1.0.
        if isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap):
            raise ValueError(f"gap_target must be a finite number, got {gap!r}")
        if not 0 <= gap < 1:
            raise ValueError(
                f"gap_target must be in [0, 1): a relative gap such as 0.001 for 0.1%, got {gap}"
            )

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> EngineParams:
        """The params a TOML file sets (fields at the top, `[weights]` for ObjectiveWeights),
        the defaults for the rest. Raises ValueError naming the field for an unknown field, a
        wrong type, a value out of bounds, or a file over FILE_MAX_BYTES or not TOML."""
        with open(path, "rb") as f:
            raw = f.read(FILE_MAX_BYTES + 1)
        if len(raw) > FILE_MAX_BYTES:
            raise ValueError(f"engine params file: larger than {FILE_MAX_BYTES} bytes")
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"engine params file: not UTF-8 TOML: {_prefix(str(e))}") from None
        values = _fields(data, _PARAM_BOUNDS, "")
        weights = data.get("weights", {})
        if not isinstance(weights, dict):
            raise ValueError(f"engine params file: weights must be a table, got {_prefix(weights)}")
        values["weights"] = ObjectiveWeights(**_fields(weights, _WEIGHT_BOUNDS, "weights."))
        try:
            return cls(**values)
        except ValueError as e:
            raise ValueError(f"engine params file: {e}") from None

    @property
    def wall_budget_s(self) -> float:
        """Wall-clock seconds the whole solve may take."""
        return self.time_limit_s * (self.wall_factor if self.deterministic else 1.0)


# EngineParams.from_toml: the largest file it reads, and each field's type and bounds (generous;
# __post_init__ checks the rules between fields).
FILE_MAX_BYTES = 64 * 1024
_PARAM_BOUNDS: dict[str, tuple[type, float, float]] = {
    "time_limit_s": (float, 0, 86_400),
    "deterministic": (bool, 0, 1),
    "seed": (int, 0, (1 << 31) - 1),
    "workers": (int, 1, 64),
    "use_lp": (bool, 0, 1),
    "use_cpsat": (bool, 0, 1),
    "use_lns": (bool, 0, 1),
    "exact_max_pairs": (int, 0, 100_000_000),
    "all_baselines_max_jobs": (int, 0, 100_000_000),
    "lns_pairs": (int, 1, 100_000_000),
    "lns_step_s": (float, 0, 3_600),
    "wall_factor": (float, 1, 100),
    "gap_target": (float, 0, 1),
    "move_kernel": (bool, 0, 1),
    "bin_elimination": (bool, 0, 1),
    "compact_gangs": (bool, 0, 1),
}
_WEIGHT_BOUNDS: dict[str, tuple[type, float, float]] = {
    f.name: (int, 0, MAX_WEIGHT) for f in fields(ObjectiveWeights)
}
assert set(_PARAM_BOUNDS) | {"weights"} == {f.name for f in fields(EngineParams)}


def _fields(
    data: dict[str, Any], bounds: dict[str, tuple[type, float, float]], where: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        if where == "" and name == "weights":
            continue
        if name not in bounds:
            raise ValueError(f"engine params file: unknown field {_prefix(where + name)}")
        kind, low, high = bounds[name]
        # bool is an int subclass: `workers = true` must not mean 1.
        ok = (
            isinstance(value, bool)
            if kind is bool
            else not isinstance(value, bool)
            and isinstance(value, int if kind is int else int | float)
        )
        if not ok:
            wanted = {bool: "true or false", int: "an integer", float: "a number"}[kind]
            raise ValueError(
                f"engine params file: {where}{name} must be {wanted}, got {_prefix(value)}"
            )
        if kind is not bool and not low <= value <= high:
            raise ValueError(
                f"engine params file: {where}{name} must be in [{low}, {high}], got {value}"
            )
        out[name] = value
    return out


def _prefix(value: object, limit: int = 40) -> str:
    """`value` as a short quote for an error message: at most `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
