"""The engine's LNS alone on one ROADEF instance, from an answer written earlier:

    python -m benchmarks.tracks.roadef_lns model_a2_3.txt OUT/solutions/roadef/a2_3.txt \\
        [--seconds 60] [--seed 0] [--shape escape ...]

runs `scheduler.placement.cpsat.lns.improve` (wall clock, one CP-SAT worker, the engine's piece
size and step limit) for `--seconds` from that answer, with every piece shape or only those
named, and prints the ROADEF cost before and after, checked by the track's evaluator, and the
improvements by shape. What LNS adds to an answer the engine already reached (the runner's
`--out` keeps its answers): to measure a change to the pieces without the stages before them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.tracks import roadef
from scheduler.placement.cpsat.lns import LnsLimits, improve
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.pieces import SHAPES
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Solution
from scheduler.placement.model.params import EngineParams


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.roadef_lns", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("model", type=Path, help="model_<name>.txt (assignment_<name>.txt beside)")
    ap.add_argument("solution", type=Path, help="an answer to start from (ROADEF format)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--shape", action="append", choices=SHAPES, help="draw only this shape (repeatable)"
    )
    a = ap.parse_args(argv)
    inst = roadef.load(a.model)  # assignment_<name>.txt beside it
    p = roadef.to_problem(inst)
    before = roadef.read_solution(a.solution, inst)
    start = Solution(assignment=tuple((m,) for m in before.machine))
    weights = ObjectiveWeights()
    defaults = EngineParams()
    t = time.monotonic()
    result = improve(
        Facts(p),
        TermWeights.of(p, weights),
        job_work(p),
        start,
        lambda s: evaluate(p, s, weights).value,
        lambda s: not check(p, s),
        LnsLimits(
            budget_s=a.seconds,
            step_s=defaults.lns_step_s,
            deterministic=False,
            seed=a.seed,
            target_pairs=defaults.lns_pairs,
            shapes=tuple(a.shape) if a.shape else None,
        ),
    )
    after = roadef.from_solution(inst, p, result.solution)
    first, last = roadef.evaluate(inst, before), roadef.evaluate(inst, after)
    wins = ", ".join(f"{k} {v}" for k, v in result.wins.items()) or "none"
    print(
        f"{inst.name}: cost {first.objective:,} -> {last.objective:,} in "
        f"{time.monotonic() - t:.0f} s, seed {a.seed}, shapes {'+'.join(a.shape or ['all'])}, "
        f"{result.steps} pieces, improvements by shape: {wins}; feasible {last.feasible}"
    )
    return 0 if last.feasible else 1


if __name__ == "__main__":
    raise SystemExit(main())
