"""The engine on generated GAP instances (gap_generate's types A-E, any size) and on named
OR-Library files, each in a fresh process, every answer judged twice:

    python -m benchmarks.tracks.gap_scale --sizes 10x200,40x800,80x1600 --types c,d,e \\
        --seeds 1-3 --time-limit 10 --out /tmp/gapgen [--orlib cattrysse1994/gap12-0,chu1997/d20200]

Per instance: the engine's `solve` as the gap track calls it (benchmarks.runner.Settings, wall
clock), timed from the call (model build included); the independent checker (verify.check) and
the track's evaluator (gap.evaluate) on its answer; its cost; two lower bounds on the cost --
the engine's own upper bound on its objective turned into cost terms (every job placed, so
cost >= work_weight x total work - bound), and the GAP's LP relaxation solved here, apart from
the engine, with GLOP (`--no-lp` skips it); the gap to each, (cost - bound) / bound; and for
OR-Library files the gap to the proven optimum. Prints a table, writes results.csv and
results.json under --out, with the machine and its load. Exit code 1 if an answer fails a
check or an instance has no feasible answer.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ortools.linear_solver import pywraplp

from benchmarks.measure import IsolatedError, machine_info, run_isolated
from benchmarks.runner import Settings
from benchmarks.tracks import gap
from benchmarks.tracks import gap_generate as gen
from scheduler.placement import check, job_work, objective_scale, solve

ENV_DATA = "SUANCHOU_BENCHDATA"  # as python -m benchmarks reads it
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "benchdata"
DEFAULT_SIZES = ("5x100", "10x200", "20x400", "40x800", "40x1600", "80x1600")
LP_LIMIT_S = 120.0


@dataclass(frozen=True)
class Spec:
    """A generated instance (kind, agents, jobs, seed) or an OR-Library file (path, name)."""

    kind: str = ""
    agents: int = 0
    jobs: int = 0
    seed: int = 0
    path: str = ""
    name: str = ""
    optimum: int | None = None

    @property
    def label(self) -> str:
        return self.name or gen.name(self.kind, self.agents, self.jobs, self.seed)

    def load(self) -> gap.Instance:
        if self.path:
            return gap.load(Path(self.path), name=self.name)
        return gen.generate(self.kind, self.agents, self.jobs, self.seed)


@dataclass
class Result:
    instance: str
    agents: int
    jobs: int
    time_limit_s: float
    status: str = ""
    source: str = ""
    feasible: bool = False  # an answer the checker and the track's evaluator both accept
    cost: int | None = None
    engine_lb: float | None = None  # the engine's bound in cost terms
    lp_lb: float | None = None  # GLOP's LP relaxation
    optimum: int | None = None
    gap_engine_pct: float | None = None
    gap_lp_pct: float | None = None
    gap_opt_pct: float | None = None
    engine_s: float = 0.0  # solve(), model build included
    map_s: float = 0.0  # generation or loading, and the mapping to a Problem
    notes: str = ""


def lp_relaxation(inst: gap.Instance, limit_s: float = LP_LIMIT_S) -> float | None:
    """The GAP's LP relaxation (x in [0, 1], each job's x sum to 1, agents' loads within
    capacity), solved with GLOP; None if it is infeasible or not solved in time."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return None
    solver.SetTimeLimit(int(limit_s * 1000))
    m, n = inst.agents, inst.jobs
    x = [[solver.NumVar(0.0, 1.0, "") for _ in range(n)] for _ in range(m)]
    inf = solver.infinity()
    for j in range(n):
        row = solver.Constraint(1.0, 1.0)
        for i in range(m):
            row.SetCoefficient(x[i][j], 1.0)
    for i in range(m):
        row = solver.Constraint(-inf, float(inst.capacity[i]))
        for j in range(n):
            row.SetCoefficient(x[i][j], float(inst.weight[i][j]))
    objective = solver.Objective()
    for i in range(m):
        for j in range(n):
            objective.SetCoefficient(x[i][j], float(inst.cost[i][j]))
    objective.SetMinimization()
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return float(objective.Value())


def _gap(cost: int | None, bound: float | None) -> float | None:
    if cost is None or bound is None or bound <= 0:
        return None
    return 100.0 * (cost - bound) / bound


def run_one(spec: Spec, time_limit_s: float, with_lp: bool) -> Result:
    """One instance, in the isolated process."""
    started = time.perf_counter()
    inst = spec.load()
    problem = gap.to_problem(inst)
    row = Result(spec.label, inst.agents, inst.jobs, time_limit_s, optimum=spec.optimum)
    row.map_s = time.perf_counter() - started
    settings = Settings()
    started = time.perf_counter()
    outcome = solve(problem, params=settings.params(time_limit_s))
    row.engine_s = time.perf_counter() - started
    row.status, row.source = str(outcome.status), outcome.source
    scale = objective_scale(problem, settings.weights)
    if scale.cost_unit == 1:
        total = scale.work_weight * sum(job_work(problem))
        row.engine_lb = float(max(0, total - outcome.upper_bound))
    notes: list[str] = []
    if outcome.solution is not None:
        violations = check(problem, outcome.solution)
        verdict = gap.evaluate(inst, gap.from_solution(inst, problem, outcome.solution))
        row.feasible = not violations and verdict.feasible
        row.cost = int(verdict.objective)
        notes += violations[:2] + verdict.violations[:2]
    else:
        notes.append(f"no answer ({outcome.status})")
    if with_lp:
        row.lp_lb = lp_relaxation(inst)
    row.gap_engine_pct = _gap(row.cost, row.engine_lb)
    row.gap_lp_pct = _gap(row.cost, row.lp_lb)
    row.gap_opt_pct = _gap(row.cost, spec.optimum)
    row.notes = "; ".join(notes)[:300]
    return row


def specs(
    sizes: Sequence[str],
    kinds: Sequence[str],
    seeds: Sequence[int],
    orlib: Sequence[str],
    data: Path | None,
) -> list[Spec]:
    out = []
    for size in sizes:
        agents, _, jobs = size.lower().partition("x")
        for kind in kinds:
            for seed in seeds:
                out.append(Spec(kind=kind, agents=int(agents), jobs=int(jobs), seed=seed))
    if orlib:
        if data is None:
            raise FileNotFoundError("--orlib needs the benchmark data (--data)")
        found = dict(gap.instances(data))
        refs = gap.references(data)
        for name in orlib:
            if name not in found:
                raise FileNotFoundError(f"--orlib: no instance {name[:60]!r} under {data}")
            ref = refs.get(name)
            optimum = ref.optimum if ref is not None else None
            out.append(Spec(path=str(found[name]), name=name, optimum=optimum))
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: Sequence[Result]) -> str:
    head = (
        f"{'instance':28} {'status':9} {'ok':3} {'cost':>8} {'gap_eng%':>8} {'gap_lp%':>8} "
        f"{'gap_opt%':>8} {'engine_s':>8} {'source':14}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.instance:28} {r.status:9} {'yes' if r.feasible else 'NO':3} "
            f"{'-' if r.cost is None else r.cost:>8} {_fmt(r.gap_engine_pct):>8} "
            f"{_fmt(r.gap_lp_pct):>8} {_fmt(r.gap_opt_pct):>8} {r.engine_s:8.2f} {r.source:14}"
        )
    feasible = [r for r in rows if r.feasible]
    gaps = [r.gap_lp_pct for r in feasible if r.gap_lp_pct is not None]
    over = sum(1 for r in rows if r.engine_s > r.time_limit_s)
    lines.append(
        f"feasible {len(feasible)}/{len(rows)}; mean gap to the LP "
        f"{_fmt(sum(gaps) / len(gaps) if gaps else None)}% over {len(gaps)}; "
        f"over the time limit {over}/{len(rows)}"
    )
    return "\n".join(lines)


def _parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.gap_scale", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help="e.g. 10x200,80x1600")
    ap.add_argument("--types", default="c,d,e", help="comma list of a-e")
    ap.add_argument("--seeds", default="1-3", help="e.g. 1-3 or 1,4")
    ap.add_argument(
        "--orlib", default="", help="comma list of benchdata names, e.g. chu1997/d20200"
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get(ENV_DATA) or DEFAULT_DATA),
        help=f"benchmark data for --orlib (default ${ENV_DATA}, else {DEFAULT_DATA})",
    )
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--no-lp", action="store_true", help="skip the independent LP bound")
    ap.add_argument("--out", type=Path, default=Path("gapgen-results"))
    a = ap.parse_args(argv)
    try:
        kinds = [k.strip().lower() for k in a.types.split(",") if k.strip()]
        bad = [k for k in kinds if k not in gen.TYPES]
        if bad:
            raise ValueError(f"--types: unknown {bad[0][:10]!r}; known {', '.join(gen.TYPES)}")
        sizes = [s.strip() for s in a.sizes.split(",") if s.strip()]
        todo = specs(
            sizes,
            kinds,
            _parse_seeds(a.seeds),
            [n.strip() for n in a.orlib.split(",") if n.strip()],
            a.data if a.data.is_dir() else None,
        )
    except (ValueError, FileNotFoundError) as e:
        ap.error(str(e))
    machine = machine_info()
    rows: list[Result] = []
    for spec in todo:
        try:
            row = run_isolated(
                run_one, spec, a.time_limit, not a.no_lp, timeout_s=10 * a.time_limit + 300
            )
        except IsolatedError as e:
            row = Result(spec.label, spec.agents, spec.jobs, a.time_limit, notes=str(e)[-300:])
        rows.append(row)
        print(table([row]).splitlines()[2], flush=True)
    print()
    print(table(rows))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    a.out.mkdir(parents=True, exist_ok=True)
    with (a.out / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])) if rows else [])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    (a.out / "results.json").write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "machine": machine,
                "load_avg_end": load,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
    )
    print(f"load average at the end {load}; wrote {a.out}/results.csv and results.json")
    return 0 if rows and all(r.feasible and not r.notes for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
