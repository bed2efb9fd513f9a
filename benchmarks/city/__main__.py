"""python -m benchmarks.city: one seeded city trace replayed under the four policies.

Prints a table per policy (utilisation, waits, jobs finished, Jain's fairness), a table of p95
waits per department, and writes `results.json` (everything, with machine and parameters) and
`results.csv` (one line per policy and department, `department` = `all` for the pool) under
--out. Exit code 0, or 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.city.kueue import KueueLike
from benchmarks.city.metrics import Metrics, measure
from benchmarks.city.real import RealCycle
from benchmarks.city.sim import Policy, run
from benchmarks.city.slurm import SlurmLike
from benchmarks.city.trace import Trace, TraceParams, generate
from benchmarks.measure import machine_info
from scheduler import logs

POLICIES = ("separate", "kueue", "slurm", "suanchou")
# A week; 50 nodes so that 1,000 jobs fill them to about the target load (trace.meta["load"]).
QUICK = {"departments": 20, "nodes": 50, "jobs": 1000, "days": 7.0}
# The month: 50,000 jobs on 1,000 nodes.
DEFAULT = {"departments": 20, "nodes": 1000, "jobs": 50_000, "days": 30.0}


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text[:20]!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.city", description=__doc__)
    p.add_argument("--quick", action="store_true", help=f"CI size: {QUICK}")
    p.add_argument("--jobs", type=_positive(int), help=f"jobs (default {DEFAULT['jobs']})")
    p.add_argument("--nodes", type=_positive(int), help=f"nodes (default {DEFAULT['nodes']})")
    p.add_argument("--departments", type=_positive(int), help="departments (default 20)")
    p.add_argument("--days", type=_positive(float), help="simulated period in days (default 7)")
    p.add_argument("--seed", type=int, default=1, help="trace seed (default 1)")
    p.add_argument(
        "--load",
        type=_positive(float),
        default=0.7,
        help="each department's work / its own capacity (default 0.7)",
    )
    p.add_argument(
        "--cycle",
        type=_positive(float),
        default=60.0,
        help="simulated seconds between scheduling cycles (default 60)",
    )
    p.add_argument(
        "--solver-time-limit",
        type=_positive(float),
        default=0.2,
        help="wall-clock seconds of the real cycle's solver (default 0.2)",
    )
    p.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help=f"comma list of {', '.join(POLICIES)} (default all)",
    )
    p.add_argument("--out", type=Path, default=Path("bench-results/city"), help="output folder")
    return p


def make_policy(name: str, trace: Trace, solver_time_limit_s: float) -> Policy:
    if name == "separate":
        return RealCycle(trace, own_only=True, solver_time_limit_s=solver_time_limit_s)
    if name == "suanchou":
        return RealCycle(trace, solver_time_limit_s=solver_time_limit_s)
    if name == "kueue":
        return KueueLike(trace)
    if name == "slurm":
        return SlurmLike(trace)
    raise ValueError(f"unknown policy {name[:40]!r}; known: {', '.join(POLICIES)}")


def table(metrics: Sequence[Metrics]) -> str:
    head = (
        "policy",
        "finished",
        "util cpu",
        "util mem",
        "util gpu",
        "wait mean h",
        "p95 h",
        "p99 h",
        "jain",
        "decisions",
        "wall s",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in metrics:
        u = m.utilisation
        cells = (
            m.policy,
            f"{m.finished}/{m.jobs}",
            f"{u.get('cpu', 0):.3f}",
            f"{u.get('memory', 0):.3f}",
            f"{u.get('nvidia.com/gpu', 0):.3f}",
            f"{m.wait.mean_h:.2f}",
            f"{m.wait.p95_h:.2f}",
            f"{m.wait.p99_h:.2f}",
            f"{m.jain:.3f}",
            str(m.decisions),
            f"{m.wall_s:.1f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def department_table(metrics: Sequence[Metrics]) -> str:
    """p95 wait in hours per department (rows) and policy (columns)."""
    lines = [
        "| department | entitled | " + " | ".join(m.policy for m in metrics) + " |",
        "|" + "---|" * (2 + len(metrics)),
    ]
    for dept, share in metrics[0].entitled_share.items():
        cells = [f"{m.wait_by_department[dept].p95_h:.2f}" for m in metrics]
        lines.append(f"| {dept} | {share:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(out: Path, metrics: Sequence[Metrics], header: dict[str, object]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in metrics:
        plain = asdict(m)
        plain.pop("job_ids")
        rows.append(plain)
    json_path, csv_path = out / "results.json", out / "results.csv"
    json_path.write_text(json.dumps({**header, "policies": rows}, ensure_ascii=False, indent=1))
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "policy",
                "department",
                "jobs",
                "wait_mean_h",
                "wait_p95_h",
                "wait_p99_h",
                "finished",
                "util_cpu",
                "util_memory",
                "util_gpu",
                "jain",
                "entitled",
                "delivered",
            ]
        )
        for m in metrics:
            u = m.utilisation
            w.writerow(
                [
                    m.policy,
                    "all",
                    m.jobs,
                    m.wait.mean_h,
                    m.wait.p95_h,
                    m.wait.p99_h,
                    m.finished,
                    u.get("cpu"),
                    u.get("memory"),
                    u.get("nvidia.com/gpu"),
                    m.jain,
                    1.0,
                    1.0,
                ]
            )
            for d, wd in m.wait_by_department.items():
                w.writerow(
                    [
                        m.policy,
                        d,
                        wd.jobs,
                        wd.mean_h,
                        wd.p95_h,
                        wd.p99_h,
                        "",
                        "",
                        "",
                        "",
                        "",
                        m.entitled_share[d],
                        m.delivered_share[d],
                    ]
                )
    return json_path, csv_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULT)
    for key in ("jobs", "nodes", "departments", "days"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    if not names or any(n not in POLICIES for n in names):
        parser.error(f"--policies: known are {', '.join(POLICIES)}")
    try:
        params = TraceParams(seed=args.seed, load=args.load, **sizes)  # type: ignore[arg-type]
    except ValueError as e:
        parser.error(str(e))
    logs.configure("warning", json=False)  # the cycle logs every cycle at info
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    trace = generate(params)
    print(
        f"trace: {len(trace.jobs)} jobs, {params.nodes} nodes in {len(trace.clusters)} clusters, "
        f"{params.days:g} days, load {trace.meta['load']:.3f}",
        file=sys.stderr,
    )
    metrics = []
    for name in names:
        result = run(make_policy(name, trace, args.solver_time_limit), trace, args.cycle)
        metrics.append(measure(result))
        print(
            f"{name}: {result.finished}/{len(trace.jobs)} finished in {result.wall_s:.1f} s",
            file=sys.stderr,
        )
    print(table(metrics))
    print()
    print(department_table(metrics))
    given = sys.argv[1:] if argv is None else list(argv)
    header = {
        "format_version": 1,
        "command": shlex.join(["python", "-m", "benchmarks.city", *given]),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {
            **asdict(params),
            "cycle_s": args.cycle,
            "solver_time_limit_s": args.solver_time_limit,
            "policies": names,
            "clusters": len(trace.clusters),
            "capacity": trace.capacity(),
            "achieved_load": trace.meta["load"],
        },
    }
    json_path, csv_path = write(args.out, metrics, header)
    print(f"wrote {json_path} and {csv_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
