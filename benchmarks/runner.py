"""The benchmark runner: each instance in a fresh process, judged by independent code.

A track is a named source of instances (`Track`); each `Instance` knows how to build its
`Problem`, may carry a published reference value, and may bring the track's own evaluator
(`judge`). The runner solves every instance with the engine's public `solve()`, runs the greedy
baselines and the LP bound on the same problem, checks every answer with the independent
checker and scores it with the independent evaluator. The published tracks (GAP, VBP, ROADEF,
OpenB; benchmarks.published) plug in as further `Track`s: their `judge` writes the answer as a
solution file in the track's format and scores it with the track's own evaluator, and the row
gets the gap to the published reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from benchmarks.measure import MIB, IsolatedError, measured, process_peak_bytes, run_isolated
from benchmarks.report import BASELINE_NAMES, Row, gap_closed, gap_pct, pct_of
from benchmarks.synthetic import SIZES, churn, generate
from scheduler.placement import EngineParams, check, evaluate, lp_bound, solve
from scheduler.placement.greedy.baselines import (
    best_fit,
    drf_ordered,
    first_fit_decreasing,
    kubernetes_like,
)
from scheduler.placement.model import ObjectiveWeights, Problem, Solution

# Issue 3's time targets per size; an instance's default engine budget.
DEFAULT_TIME_LIMITS = {"S": 1.0, "M": 5.0, "L": 60.0}
# The greedy baselines, under their report column names (report.BASELINE_NAMES order).
BASELINES: dict[str, Callable[[Problem], Solution]] = {
    "ffd": first_fit_decreasing,
    "best_fit": best_fit,
    "drf": drf_ordered,
    "k8s": kubernetes_like,
}
_NOTED_VIOLATIONS = 3  # violations quoted per answer; the count is always complete


@dataclass(frozen=True)
class Verdict:
    """A track evaluator's judgement of an answer, in the track's own terms."""

    feasible: bool
    objective: float
    violations: tuple[str, ...] = ()
    measures: tuple[tuple[str, float], ...] = ()  # further track measures (OpenB fragmentation)
    solution_file: str = ""  # where the judge wrote the answer in the track's format
    # References only known once the judge ran (OpenB: the online policies in the same run);
    # they join the instance's, and `reference_kind` (if set) names the one to compare with.
    references: tuple[tuple[str, float], ...] = ()
    reference_kind: str = ""


@dataclass(frozen=True)
class Instance:
    """One named problem of a track. `build` and `judge` cross a process boundary: use
    module-level functions or functools.partial of them."""

    track: str
    name: str
    build: Callable[[], Problem]
    time_limit_s: float
    reference: float | None = None  # published best known value, in the track's own terms
    judge: Callable[[Problem, Solution], Verdict] | None = None
    sense: str = "min"  # the track objective's direction: "min" or "max"
    reference_kind: str = ""  # which published value `reference` is (optimum, best_known...)
    references: tuple[tuple[str, float], ...] = ()  # every published value, by name
    compare: bool = True  # also the LP bound and the greedy baselines (engine's objective)


class Track(Protocol):
    """A source of instances: a generator (synthetic) or a loader of published files."""

    @property
    def name(self) -> str: ...

    def instances(self) -> Sequence[Instance]: ...


@dataclass(frozen=True)
class Settings:
    """Everything a run's numbers depend on besides the instances (recorded in the output)."""

    deterministic: bool = False  # False: time limits are wall-clock seconds
    workers: int = 2
    engine_seed: int = 0
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    move_kernel: bool = True  # EngineParams.move_kernel
    # An isolated instance gets factor x its engine budget + slack for generation, the engine,
    # the LP bound, the baselines and the checks before it is counted as hung. At L on the
    # loaded 2-core machine the LP bound and the four baselines alone took ~110 s (54% CPU).
    timeout_factor: float = 10.0
    timeout_slack_s: float = 300.0
    timeout_override_s: float | None = None  # a fixed cut-off instead

    def params(self, time_limit_s: float) -> EngineParams:
        return EngineParams(
            time_limit_s=time_limit_s,
            deterministic=self.deterministic,
            seed=self.engine_seed,
            workers=self.workers,
            weights=self.weights,
            move_kernel=self.move_kernel,
        )

    def timeout_s(self, time_limit_s: float) -> float:
        if self.timeout_override_s is not None:
            return self.timeout_override_s
        return time_limit_s * self.timeout_factor + self.timeout_slack_s


# -- work done inside the isolated process -------------------------------------------------------


@dataclass
class _Judged:
    solution: Solution
    value: int
    placed: int
    violations: list[str]


def _judge(p: Problem, s: Solution, weights: ObjectiveWeights) -> _Judged:
    return _Judged(
        solution=s,
        value=evaluate(p, s, weights).value,
        placed=sum(1 for a in s.assignment if a is not None),
        violations=check(p, s),
    )


def _describe(p: Problem, row: Row) -> None:
    row.jobs, row.nodes, row.clusters = p.num_jobs, p.num_nodes, p.num_groups


def _note(row: Row, who: str, violations: list[str]) -> None:
    row.violations += len(violations)
    if violations:
        quoted = "; ".join(violations[:_NOTED_VIOLATIONS])
        row.failures.append(f"{who}: {len(violations)} checker violations ({quoted})")


def _run_engine(p: Problem, row: Row, settings: Settings, warm_start: Solution | None) -> _Judged:
    """The engine's solve, timed from the call (model build included), checked and scored."""
    params = settings.params(row.time_limit_s)
    with measured() as m:
        outcome = solve(p, params=params, warm_start=warm_start)
    row.engine_s, row.engine_peak_mib = m.seconds, m.peak_mib
    row.status, row.source = str(outcome.status), outcome.source
    row.engine_bound = outcome.upper_bound
    row.engine_build_s = outcome.timings.build_ms / 1000
    solution = outcome.solution
    if solution is None:
        # Every track has a feasible answer (placing nothing, or the track guarantees one),
        # so no answer at all is the engine's failure; score it as placing nothing.
        row.failures.append(f"engine returned no solution (status {outcome.status})")
        solution = Solution(assignment=(None,) * p.num_jobs)
    engine = _judge(p, solution, settings.weights)
    _note(row, "engine", engine.violations)
    row.objective, row.placed_jobs = engine.value, engine.placed
    if outcome.solution is not None and outcome.value != engine.value:
        row.failures.append(f"engine reports objective {outcome.value}, evaluator {engine.value}")
    return engine


def _run_baselines(p: Problem, row: Row, weights: ObjectiveWeights) -> dict[str, _Judged]:
    with measured() as m:
        greedy = {name: _judge(p, BASELINES[name](p), weights) for name in BASELINE_NAMES}
    row.baselines_s = m.seconds
    for name, judged in greedy.items():
        _note(row, name, judged.violations)
    # Only answers the checker accepts compete for "best greedy".
    valid = {name: j.value for name, j in greedy.items() if not j.violations}
    if valid:
        row.best_greedy = max(valid, key=lambda name: valid[name])
        row.best_greedy_objective = valid[row.best_greedy]
    return greedy


def _compare(row: Row, engine: _Judged, greedy: dict[str, _Judged], bound: int | None) -> None:
    """Percentages of the bound, gap closed, and the bound's own sanity."""
    if bound is None:
        # The relaxation proves some required job cannot be placed; an answer the checker
        # accepts says otherwise, so one of the two is wrong.
        if not engine.violations:
            row.failures.append("LP bound says infeasible, yet the engine's answer checks")
        return
    row.pct_of_bound = pct_of(engine.value, bound)
    row.baseline_pct = {name: pct_of(j.value, bound) for name, j in greedy.items()}
    if row.best_greedy_objective is not None:
        row.gap_closed_pct = gap_closed(engine.value, row.best_greedy_objective, bound)
    # An answer above an upper bound means the bound (or the evaluator) is wrong.
    for name, value in [("engine", engine.value), *((n, j.value) for n, j in greedy.items())]:
        if value > bound:
            row.failures.append(f"{name} objective {value} exceeds the LP bound {bound}")


def _solve_and_score(
    p: Problem,
    row: Row,
    settings: Settings,
    warm_start: Solution | None = None,
    compare: bool = True,
) -> Solution:
    """Engine, LP bound and baselines (unless not `compare`) on one problem, filling `row`."""
    engine = _run_engine(p, row, settings, warm_start)
    if not compare:
        return engine.solution
    with measured() as m:
        lp = lp_bound(p, settings.weights)
    row.lp_s, row.bound, row.bound_status = m.seconds, lp.value, lp.status
    greedy = _run_baselines(p, row, settings.weights)
    _compare(row, engine, greedy, lp.value)
    return engine.solution


def solve_instance(instance: Instance, settings: Settings) -> Row:
    """Builds, solves, bounds and judges one instance (call through run_isolated)."""
    row = Row(instance.track, instance.name, "cold", instance.time_limit_s)
    row.reference, row.reference_kind = instance.reference, instance.reference_kind
    row.references = dict(instance.references)
    row.sense = instance.sense
    with measured() as gen_m:
        p = instance.build()
    row.gen_s, row.gen_peak_mib = gen_m.seconds, gen_m.peak_mib
    _describe(p, row)
    solution = _solve_and_score(p, row, settings, compare=instance.compare)
    if instance.judge is not None:
        verdict = instance.judge(p, solution)
        row.track_objective = verdict.objective
        row.measures = dict(verdict.measures)
        row.solution_file = verdict.solution_file
        row.references.update(verdict.references)
        if verdict.reference_kind in row.references:
            row.reference_kind = verdict.reference_kind
            row.reference = row.references[verdict.reference_kind]
        row.track_feasible = verdict.feasible and not verdict.violations
        if row.reference is not None:
            row.gap_pct = gap_pct(verdict.objective, row.reference, instance.sense)
        if not row.track_feasible:
            row.violations += max(1, len(verdict.violations))
            quoted = "; ".join(verdict.violations[:_NOTED_VIOLATIONS])
            more = len(verdict.violations) - _NOTED_VIOLATIONS
            if more > 0:
                quoted += f"; and {more} more"
            row.failures.append(f"track evaluator: infeasible ({quoted})")
    row.process_peak_mib = process_peak_bytes() / MIB
    return row


def solve_churn(
    size: str, seed: int, fraction: float, time_limit_s: float, settings: Settings
) -> list[Row]:
    """Warm start: solve a city, let `fraction` of its jobs finish and arrive, then solve the
    next cycle twice -- cold, and warm from the previous placement."""
    first = generate(size, seed)
    first_solution = solve(first, params=settings.params(time_limit_s)).solution
    if first_solution is None:
        raise RuntimeError(f"engine found no answer for {size}-seed{seed}, nothing to churn")
    with measured() as build_m:
        p, warm = churn(first, first_solution, fraction, seed)
    name = f"{size}-seed{seed}+churn{fraction:g}"
    rows = []
    for mode, start in (("churn-cold", None), ("churn-warm", warm)):
        row = Row("synthetic", name, mode, time_limit_s)
        row.gen_s, row.gen_peak_mib = build_m.seconds, build_m.peak_mib
        _describe(p, row)
        _solve_and_score(p, row, settings, warm_start=start)
        row.process_peak_mib = process_peak_bytes() / MIB
        rows.append(row)
    return rows


# -- tracks and the run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticTrack:
    """The seeded city workloads of benchmarks.synthetic, per size and seed."""

    sizes: tuple[str, ...]
    seeds: tuple[int, ...]
    time_limit_s: float | None = None  # None: DEFAULT_TIME_LIMITS per size

    @property
    def name(self) -> str:
        return "synthetic"

    def instances(self) -> Sequence[Instance]:
        return [
            Instance(
                track=self.name,
                name=f"{size}-seed{seed}",
                build=functools.partial(generate, size, seed),
                time_limit_s=DEFAULT_TIME_LIMITS[size]
                if self.time_limit_s is None
                else self.time_limit_s,
            )
            for size in self.sizes
            for seed in self.seeds
        ]


def validate_sizes(sizes: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise ValueError(f"unknown sizes {unknown}; known: {', '.join(SIZES)}")
    return tuple(sizes)


Progress = Callable[[Row], None]


def run_track(
    track: Track,
    settings: Settings,
    progress: Progress | None = None,
    instances: Sequence[Instance] | None = None,
) -> list[Row]:
    """Every instance of the track (or the given ones), one fresh process each; a crash or hang
    becomes a failed row rather than ending the run."""
    rows = []
    for instance in track.instances() if instances is None else instances:
        try:
            row = run_isolated(
                solve_instance,
                instance,
                settings,
                timeout_s=settings.timeout_s(instance.time_limit_s),
            )
        except IsolatedError as e:
            row = Row(
                instance.track, instance.name, "cold", instance.time_limit_s, failures=[str(e)]
            )
            row.reference, row.reference_kind = instance.reference, instance.reference_kind
            row.references, row.sense = dict(instance.references), instance.sense
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def run_churn(
    size: str,
    seed: int,
    fraction: float,
    time_limit_s: float,
    settings: Settings,
    progress: Progress | None = None,
) -> list[Row]:
    """The warm-start experiment in its own process (three solves: first cycle, cold, warm)."""
    name = f"{size}-seed{seed}+churn{fraction:g}"
    try:
        rows = run_isolated(
            solve_churn,
            size,
            seed,
            fraction,
            time_limit_s,
            settings,
            timeout_s=settings.timeout_s(3 * time_limit_s),
        )
    except IsolatedError as e:
        rows = [Row("synthetic", name, "churn", time_limit_s, failures=[str(e)])]
    for row in rows:
        if progress is not None:
            progress(row)
    return rows
