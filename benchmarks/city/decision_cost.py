"""python -m benchmarks.city.decision_cost: what one decision of a policy costs at month scale.

A month through the real cycle takes hours, so its speed is measured on a slice: the month's
trace (the defaults of `python -m benchmarks.city`) is replayed from its start, and the
decisions made between `--from-days` and `--until-days` (the pool full by then: ~1,600 jobs,
~3,000 replicas running) are timed, wall and process CPU, with the cycle's own phases
(`CycleReport.phases_ms`) for the real-cycle policies. The replay stops at `--until-days`.
`--profile FILE` writes a cProfile of the timed slice; `--capture FILE` pickles the engine's
inputs of the slice's decisions (problem, parameters, warm start), for
`python -m benchmarks.city.solve_captured` to solve again in either mode and at any limit
without the replay. Prints one line of figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pickle
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.city.__main__ import DEFAULT, POLICIES, make_policy
from benchmarks.city.sim import Decision, run
from benchmarks.city.trace import TraceParams, generate
from scheduler import logs
from scheduler.placement import EngineParams, Outcome, Problem, Solution
from scheduler.service import cycle as cycle_module
from scheduler.service.cycle import CycleReport

# What one captured decision holds: the engine's three inputs.
Captured = tuple[Problem, EngineParams, Solution | None]


class _Stop(Exception):
    """The slice is over."""


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.city.decision_cost", description=__doc__)
    p.add_argument("--policy", choices=POLICIES, default="suanchou")
    p.add_argument("--from-days", type=float, default=2.0, help="start of the timed slice")
    p.add_argument("--until-days", type=float, default=2.5, help="end of the timed slice")
    p.add_argument("--cycle", type=float, default=600.0, help="simulated seconds per tick")
    p.add_argument("--solver-time-limit", type=float, default=0.2)
    p.add_argument(
        "--wall-clock",
        action="store_true",
        help="the real cycle's solver on wall-clock time (the server's mode without"
        " solver_deterministic; the simulator's replays are deterministic)",
    )
    p.add_argument("--profile", help="write a cProfile of the timed slice to this file")
    p.add_argument(
        "--capture", help="pickle the engine's inputs of the timed slice's decisions to this file"
    )
    args = p.parse_args(argv)
    if not 0 <= args.from_days < args.until_days:
        p.error("--from-days must be >= 0 and below --until-days")
    logs.configure("warning", json=False)
    trace = generate(TraceParams(seed=1, load=0.7, **DEFAULT))  # type: ignore[arg-type]
    policy = make_policy(
        args.policy, trace, args.solver_time_limit, deterministic=not args.wall_clock
    )
    profile = cProfile.Profile() if args.profile else None
    timed = {"decisions": 0, "wall": 0.0, "cpu": 0.0}
    phases: dict[str, float] = {}
    inside = [False]  # the timed slice has begun
    schedule = policy.schedule

    def timed_schedule(now: float) -> Decision:
        if now > args.until_days * 86_400:
            raise _Stop
        if now < args.from_days * 86_400:
            return schedule(now)
        if profile is not None and not timed["decisions"]:
            profile.enable()
        inside[0] = True
        wall, cpu = time.perf_counter(), time.process_time()
        decision = schedule(now)
        timed["decisions"] += 1
        timed["wall"] += time.perf_counter() - wall
        timed["cpu"] += time.process_time() - cpu
        return decision

    policy.schedule = timed_schedule  # type: ignore[method-assign]
    cycle: Any = getattr(policy, "cycle", None)
    if cycle is not None:
        run_once = cycle.run_once

        def phased() -> CycleReport:
            report: CycleReport = run_once()
            if inside[0]:
                for name, ms in report.phases_ms.items():
                    phases[name] = phases.get(name, 0.0) + ms
            return report

        cycle.run_once = phased
    captured: list[Captured] = []
    if args.capture:
        # The cycle calls the engine through its module's solve_cycle; swapped for this run.
        names = vars(cycle_module)
        solve_cycle = names["solve_cycle"]

        def capturing(problem: Problem, **kw: Any) -> Outcome:
            if inside[0]:
                captured.append((problem, kw["params"], kw["warm_start"]))
            outcome: Outcome = solve_cycle(problem, **kw)
            return outcome

        names["solve_cycle"] = capturing
    started = time.perf_counter()
    try:
        run(policy, trace, args.cycle)
    except _Stop:
        policy.close()
    finally:
        if args.capture:
            names["solve_cycle"] = solve_cycle  # in-process callers (tests) get it back
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    if args.capture:
        with open(args.capture, "wb") as f:
            pickle.dump(captured, f)
        print(f"captured {len(captured)} solves to {args.capture}", file=sys.stderr)
    n = max(1, int(timed["decisions"]))
    shown = ", ".join(f"{k} {v / n:.0f}" for k, v in phases.items())
    print(
        f"{args.policy}: days {args.from_days:g}-{args.until_days:g} at a {args.cycle:g}-s cycle: "
        f"{int(timed['decisions'])} decisions, {1000 * timed['wall'] / n:.0f} ms wall and "
        f"{1000 * timed['cpu'] / n:.0f} ms CPU per decision"
        + (f" (cycle phases, ms: {shown})" if shown else "")
        + f"; {time.perf_counter() - started:.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
