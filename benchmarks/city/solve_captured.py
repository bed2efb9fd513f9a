"""python -m benchmarks.city.solve_captured FILE: the engine again on captured decisions.

`python -m benchmarks.city.decision_cost --capture FILE` pickles the engine's inputs of a slice
of the month (problem, parameters, warm start). This solves each again with the time limit and
mode given (`--wall-clock`: the server's default mode; else deterministic, the simulator's)
and prints the wall time per solve (mean, median, max), the time of each stage (from the
engine's progress events, so a stage's time runs from the end of the one before), the early
stops and the work placed. Only load files you wrote: a pickle runs code when it is read.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from benchmarks.arguments import positive
from benchmarks.city.decision_cost import Captured
from scheduler.placement import solve

# Events that end a stage (model/params.py, Progress).
_ENDS = ("_done", "_skipped")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.city.solve_captured", description=__doc__
    )
    p.add_argument("file", help="a file written by decision_cost --capture")
    p.add_argument("--time-limit", type=positive(float), default=0.2, help="seconds")
    p.add_argument("--wall-clock", action="store_true", help="wall-clock mode (else deterministic)")
    args = p.parse_args(argv)
    with open(args.file, "rb") as f:
        items: list[Captured] = pickle.load(f)
    if not items:
        p.error(f"{args.file[:80]}: no captured solves")
    stages: dict[str, list[float]] = defaultdict(list)
    stops: Counter[tuple[object, object]] = Counter()
    walls: list[float] = []
    placed = 0
    last = [0.0]  # when the stage before ended

    def progress(event: str, fields: Mapping[str, object]) -> None:
        if event.endswith(_ENDS):
            now = time.perf_counter()
            stages[event.removesuffix("_done")].append(now - last[0])
            last[0] = now
        elif event == "early_stop":
            stops[(fields.get("after"), fields.get("reason"))] += 1

    for problem, params, warm in items:
        limited = replace(params, time_limit_s=args.time_limit, deterministic=not args.wall_clock)
        started = last[0] = time.perf_counter()
        outcome = solve(problem, params=limited, warm_start=warm, progress=progress)
        walls.append(time.perf_counter() - started)
        stages["explanations"].append(outcome.timings.explain_ms / 1000)
        if outcome.solution is not None:
            placed += sum(a is not None for a in outcome.solution.assignment)
    n = len(items)
    mode = "wall-clock" if args.wall_clock else "deterministic"
    print(
        f"{n} solves, {mode}, limit {args.time_limit:g} s: wall per solve mean "
        f"{1000 * statistics.mean(walls):.0f} ms, median {1000 * statistics.median(walls):.0f}, "
        f"max {1000 * max(walls):.0f}; {placed} jobs placed in all"
    )
    for name, times in sorted(stages.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {name:<20} {1000 * sum(times) / n:7.0f} ms per solve (ran in {len(times)})")
    shown = ", ".join(f"after {a}: {r} x{c}" for (a, r), c in stops.most_common())
    print(f"  early stops: {shown or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
