"""One ROADEF instance through the engine with the track's settings, timed stage by stage:

    python -m benchmarks.tracks.roadef_scale /tmp/b/model_g50000x5000s1.txt [--time-limit 300]

prints the load and mapping times, the engine's progress events (not its per-step ones), its
wall time and timings, the initial and final ROADEF cost, the evaluator's verdict and the peak
resident memory of the process (getrusage) after each line. For instances of any size, such as
roadef_generate's B/X stand-ins, without the runner's data folder and reference files. Exit
code 1 if the answer violates a constraint or is missing.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks.published import DEFAULT_TIME_LIMITS
from benchmarks.runner import Settings
from benchmarks.tracks import roadef
from scheduler.placement import solve

_QUIET = ("lns_step", "cpsat_solution", "focus_step", "lns_improved")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.roadef_scale", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("model", type=Path, help="model_<name>.txt (assignment_<name>.txt beside)")
    ap.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMITS["roadef"])
    ap.add_argument("--workers", type=int, default=Settings.workers, help="CP-SAT workers")
    ap.add_argument("--seed", type=int, default=Settings.engine_seed, help="the engine's seed")
    ap.add_argument(
        "--no-move-kernel", dest="move_kernel", action="store_false", help="numpy, not the kernel"
    )
    a = ap.parse_args(argv)
    start = time.monotonic()

    def log(*parts: object) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"[{time.monotonic() - start:7.1f} s, peak {peak:6.0f} MiB]", *parts, flush=True)

    t = time.monotonic()
    inst = roadef.load(a.model)
    log(f"loaded {inst.processes} processes x {inst.machines} machines in", _s(t))
    t = time.monotonic()
    problem = roadef.to_problem(inst)
    log("mapped to a Problem in", _s(t))
    initial = roadef.evaluate(inst, roadef.RoadefSolution(inst.initial))
    log(f"initial cost {initial.objective:,}, {len(initial.violations)} violations")

    def progress(event: str, fields: Mapping[str, object]) -> None:
        if event not in _QUIET:
            log(event, dict(fields))

    t = time.monotonic()
    settings = Settings(move_kernel=a.move_kernel, workers=a.workers, engine_seed=a.seed)
    outcome = solve(problem, params=settings.params(a.time_limit), progress=progress)
    log(
        f"engine {_s(t)} of {a.time_limit:g} s ({a.workers} CP-SAT workers, seed {a.seed}), "
        f"{outcome.status}, from {outcome.source}"
    )
    log(outcome.timings)
    if outcome.solution is None:
        log("no answer")
        return 1
    final = roadef.evaluate(inst, roadef.from_solution(inst, problem, outcome.solution))
    saved = initial.objective - final.objective
    log(
        f"final cost {final.objective:,} ({100 * saved / max(1, initial.objective):.2f}% below "
        f"the initial), feasible {final.feasible}, {len(final.violations)} violations",
        final.violations[:3] or "",
    )
    return 0 if final.feasible else 1


def _s(since: float) -> str:
    return f"{time.monotonic() - since:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
