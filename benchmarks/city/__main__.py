"""python -m benchmarks.city (or `python -m benchmarks --track city`, `suanchou bench --track
city`): one seeded city trace replayed under the four policies, and the 统筹 headline.

Prints the policy table, the per-department table and the headline (the fewest nodes with
which each pooled policy gives every department its separate-clusters p95 wait), and writes
table.txt, results.csv, results.json and two PNG plots under --out. With --quick (the CI size),
also checks the run against the `city` thresholds of benchmarks/thresholds.toml. Exit code 0,
1 for a breached threshold, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from benchmarks import thresholds
from benchmarks.arguments import positive
from benchmarks.city.headline import Headline, fewest_nodes
from benchmarks.city.kueue import KueueLike
from benchmarks.city.metrics import Metrics, measure
from benchmarks.city.plots import write_plots
from benchmarks.city.real import RealCycle
from benchmarks.city.report import text, write
from benchmarks.city.sim import Policy, run
from benchmarks.city.slurm import SlurmLike
from benchmarks.city.trace import Trace, TraceParams, generate
from benchmarks.measure import machine_info
from scheduler import logs

T = TypeVar("T")

POLICIES = ("separate", "kueue", "slurm", "suanchou")
POOLED = ("suanchou", "kueue", "slurm")
# suanchou with preemption off: what keeping the guarantee owes to preemption (not a policy of
# the comparison, so never run by default).
VARIANTS = ("suanchou-no-preemption",)
# CI size: 6 departments on 12 nodes, 200 jobs in a day, a cycle at most every 10 simulated
# minutes (at most 144 ticks with arrivals), the solver 0.1 s per cycle, one bisection step
# for the headline: 30-50 s on the loaded 2-core machine (README).
QUICK = {"departments": 6, "nodes": 12, "jobs": 200, "days": 1.0}
QUICK_CYCLE_S = 600.0
QUICK_SOLVER_S = 0.1
QUICK_HEADLINE_STEPS = 1
# The month: 50,000 jobs on 1,000 nodes.
DEFAULT = {"departments": 20, "nodes": 1000, "jobs": 50_000, "days": 30.0}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.city", description=__doc__)
    p.add_argument("--quick", action="store_true", help=f"CI size: {QUICK}, thresholds checked")
    p.add_argument("--jobs", type=positive(int), help=f"jobs (default {DEFAULT['jobs']})")
    p.add_argument("--nodes", type=positive(int), help=f"nodes (default {DEFAULT['nodes']})")
    p.add_argument("--departments", type=positive(int), help="departments (default 20)")
    p.add_argument("--days", type=positive(float), help="simulated period in days (default 30)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default 1)")
    p.add_argument(
        "--load",
        type=positive(float),
        default=0.7,
        help="each department's work / its own capacity (default 0.7)",
    )
    p.add_argument(
        "--cycle",
        type=positive(float),
        help=f"simulated seconds between scheduling cycles (default 60; {QUICK_CYCLE_S:g} quick)",
    )
    p.add_argument(
        "--solver-time-limit",
        type=positive(float),
        help="wall-clock seconds of the real cycle's solver per cycle "
        f"(default 0.2; {QUICK_SOLVER_S:g} quick)",
    )
    p.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help=f"comma list of {', '.join(POLICIES)} (default all)",
    )
    p.add_argument(
        "--headline",
        default=",".join(POOLED),
        help="pooled policies whose fewest nodes to find, or 'none' (needs separate; "
        "default suanchou,kueue,slurm among --policies)",
    )
    p.add_argument(
        "--headline-steps",
        type=positive(int),
        help=f"bisection runs per headline (default 6; {QUICK_HEADLINE_STEPS} quick)",
    )
    p.add_argument(
        "--workers",
        type=positive(int),
        default=2,
        help="processes replaying policies side by side (default 2, the machine's cores; "
        "1 replays them one after another in this process)",
    )
    p.add_argument("--out", type=Path, default=Path("bench-results/city"), help="output folder")
    return p


def make_policy(
    name: str, trace: Trace, solver_time_limit_s: float, deterministic: bool = True
) -> Policy:
    """`deterministic` False: the real cycle's solver on wall-clock time (decision_cost)."""
    if name in ("separate", "suanchou", *VARIANTS):
        return RealCycle(
            trace,
            own_only=name == "separate",
            preemption=name != "suanchou-no-preemption",
            solver_time_limit_s=solver_time_limit_s,
            deterministic=deterministic,
        )
    if name == "kueue":
        return KueueLike(trace)
    if name == "slurm":
        return SlurmLike(trace)
    known = ", ".join((*POLICIES, *VARIANTS))
    raise ValueError(f"unknown policy {name[:40]!r}; known: {known}")


def replay(name: str, trace: Trace, solver_time_limit_s: float, cycle_s: float) -> Metrics:
    """One policy's replay of `trace`, measured."""
    logs.configure("warning", json=False)  # the cycle logs every cycle at info
    return measure(run(make_policy(name, trace, solver_time_limit_s), trace, cycle_s))


def headline(
    name: str,
    trace: Trace,
    solver_time_limit_s: float,
    cycle_s: float,
    target: dict[str, float],
    full: Metrics,
    steps: int,
) -> Headline:
    """One pooled policy's 统筹 bisection (its runs one after another: each depends on the last)."""
    logs.configure("warning", json=False)
    return fewest_nodes(
        name,
        trace,
        lambda t: make_policy(name, t, solver_time_limit_s),
        target,
        cycle_s,
        full=full,
        max_steps=steps,
    )


def side_by_side(
    calls: Sequence[tuple[str, Callable[..., T], tuple[object, ...]]], workers: int
) -> Iterator[tuple[str, T]]:
    """(name, fn(*args)) for every call, in the given order. The policies share nothing but
    the trace, so `workers` processes run the calls side by side (give the slowest first); each
    replay's wall time and decisions are its own process's. workers=1: one after another here."""
    if workers <= 1 or len(calls) <= 1:
        for name, fn, args in calls:
            yield name, fn(*args)
        return
    # fork: the workers inherit the loaded modules; the trace is sent with each call.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(min(workers, len(calls)), mp_context=context) as pool:
        futures = [(name, pool.submit(fn, *args)) for name, fn, args in calls]
        for name, future in futures:
            yield name, future.result()


def parse_names(
    text: str, allowed: Sequence[str], flag: str, parser: argparse.ArgumentParser
) -> list[str]:
    if text.strip() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if any(n not in allowed for n in names):
        parser.error(f"{flag}: known are {', '.join(allowed)}")
    return names


def quick_values(
    metrics: Sequence[Metrics], headlines: Sequence[Headline]
) -> dict[tuple[str, str, str], dict[str, float | None]]:
    """The measured values the `city` thresholds name, by (track, instance, mode)."""
    out: dict[tuple[str, str, str], dict[str, float | None]] = {}
    for m in metrics:
        out[("city", m.policy, "quick")] = {
            "wait_p95_h": m.wait.p95_h,
            "wait_mean_h": m.wait.mean_h,
            "util_cpu": m.utilisation.get("cpu"),
            "guarantee": m.guarantee,
            "finished_share": m.finished / m.jobs if m.jobs else None,
            "preemptions": float(m.preemptions),
        }
    for h in headlines:
        out[("city", f"{h.policy}-headline", "quick")] = {"fewer_nodes_pct": h.fewer_pct}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULT)
    for key in ("jobs", "nodes", "departments", "days"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    cycle_s = args.cycle or (QUICK_CYCLE_S if args.quick else 60.0)
    solver_s = args.solver_time_limit or (QUICK_SOLVER_S if args.quick else 0.2)
    steps = args.headline_steps or (QUICK_HEADLINE_STEPS if args.quick else 6)
    names = parse_names(args.policies, POLICIES, "--policies", parser)
    if not names:
        parser.error("--policies: give at least one")
    heads = [n for n in parse_names(args.headline, POOLED, "--headline", parser) if n in names]
    if "separate" not in names:
        heads = []
    try:
        params = TraceParams(seed=args.seed, load=args.load, **sizes)  # type: ignore[arg-type]
    except ValueError as e:
        parser.error(str(e))
    logs.configure("warning", json=False)  # the cycle logs every cycle at info
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()  # before the run: its load average is the others' load
    trace = generate(params)
    print(
        f"trace: {len(trace.jobs)} jobs, {params.nodes} nodes in {len(trace.clusters)} clusters, "
        f"{params.days:g} days, load {trace.meta['load']:.3f}",
        file=sys.stderr,
    )
    metrics: dict[str, Metrics] = {}
    # The real cycle's replays are the slowest: they start first.
    slowest_first = sorted(names, key=lambda n: n not in ("suanchou", "separate"))
    calls = [(n, replay, (n, trace, solver_s, cycle_s)) for n in slowest_first]
    for name, m in side_by_side(calls, args.workers):
        metrics[name] = m
        print(
            f"{name}: {m.finished}/{len(trace.jobs)} finished in {m.wall_s:.1f} s "
            f"({m.decisions} decisions)",
            file=sys.stderr,
        )
    headlines: list[Headline] = []
    if heads:
        target = {d: w.p95_h for d, w in metrics["separate"].wait_by_department.items()}
        bisections = [
            (n, headline, (n, trace, solver_s, cycle_s, target, metrics[n], steps)) for n in heads
        ]
        for name, h in side_by_side(bisections, args.workers):
            headlines.append(h)
            print(
                f"headline {name}: {h.fewest_nodes} of {h.nodes} nodes "
                f"({sum(s.wall_s for s in h.steps[1:]):.1f} s)",
                file=sys.stderr,
            )
    ordered = [metrics[n] for n in names]
    print(text(ordered, headlines))
    given = sys.argv[1:] if argv is None else list(argv)
    header = {
        "format_version": 2,
        "command": shlex.join(["python", "-m", "benchmarks.city", *given]),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {
            **asdict(params),
            "cycle_s": cycle_s,
            "solver_time_limit_s": solver_s,
            "policies": names,
            "headline_steps": steps,
            "workers": args.workers,
            "clusters": len(trace.clusters),
            "capacity": trace.capacity(),
            "achieved_load": trace.meta["load"],
        },
    }
    paths = write(args.out, ordered, headlines, header) + write_plots(ordered, args.out)
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    if not args.quick:
        return 0
    recorded = [t for t in thresholds.load() if t.track == "city"]
    outcome = thresholds.check([], recorded, quick_values(ordered, headlines))
    print(thresholds.report(outcome))
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
