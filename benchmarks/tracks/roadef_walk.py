"""The engine's late acceptance alone on one ROADEF instance, from its initial assignment
or from an answer:

    python -m benchmarks.tracks.roadef_walk model_a2_5.txt [--seconds 60] [--seed 0] [--no-boost]
        [--no-window] [--start answer.txt] [--out answer.txt]

runs `scheduler.placement.search.reassign` (the compiled kernel) for `--seconds`, with or
without its first walk on boosted weights for the avoidable resources, with or without its
growing window of the biggest jobs (reassign.window), and prints the ROADEF
cost of the answer, checked by the track's evaluator. What the engine's reassignment stage
does on its share of a 300-s run, without the stages around it: to measure a change to the
walk itself. With `--start` (a solution file, as the runner writes) it walks from that answer,
as the engine's later rounds do; `--out` writes the answer it ends at.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.tracks import roadef
from scheduler.placement.model import ObjectiveWeights, Solution
from scheduler.placement.search.kernel.late import load
from scheduler.placement.search.reassign import Reassign, reassign


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.roadef_walk", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("model", type=Path, help="model_<name>.txt (assignment_<name>.txt beside)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-boost", dest="boost", action="store_false", help="no first walk on boosted weights"
    )
    ap.add_argument(
        "--no-window",
        dest="window",
        action="store_false",
        help="every step draws from all the movable jobs, not a growing window of the biggest",
    )
    ap.add_argument("--start", type=Path, help="walk from this answer, not the initial one")
    ap.add_argument("--out", type=Path, help="write the answer here")
    a = ap.parse_args(argv)
    inst = roadef.load(a.model)  # assignment_<name>.txt beside it
    p = roadef.to_problem(inst)
    machines = roadef.read_solution(a.start, inst).machine if a.start else inst.initial
    start = Solution(assignment=tuple((m,) for m in machines))
    # Loaded before the clock starts: `--seconds` are walking. Loading the kernel from numba's
    # cache took 4.3 s on this machine under a load of 3, and a 1-s walk then kept no move.
    load(Reassign(p, start, ObjectiveWeights(), a.seed))
    result = reassign(
        p,
        start,
        ObjectiveWeights(),
        deadline=time.monotonic() + a.seconds,
        seed=a.seed,
        kernel=True,
        boost=a.boost,
        window=a.window,
    )
    sol = roadef.from_solution(inst, p, result.solution)
    verdict = roadef.evaluate(inst, sol)
    if a.out:
        roadef.write_solution(a.out, inst, sol)
    print(
        f"{inst.name}: cost {verdict.objective:,} after {a.seconds:g} s"
        f"{f' from {a.start.name}' if a.start else ''}, seed {a.seed}, "
        f"boost {'on' if a.boost else 'off'}, window {'on' if a.window else 'off'}, "
        f"{result.moves:,} moves kept, "
        f"feasible {verdict.feasible}"
    )
    return 0 if verdict.feasible else 1


if __name__ == "__main__":
    raise SystemExit(main())
