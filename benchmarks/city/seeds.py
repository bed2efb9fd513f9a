"""python -m benchmarks.city.seeds: the pooled policies over several seeded traces, and on how
many of them suanchou meets the issue's targets against each baseline.

One trace is a weak measure of a policy: a single decision taken differently changes what runs
next, so a change that is neutral on average moves one trace's preemptions by a factor of two
or more (benchmarks/README.md, city simulator). This command replays each seed's trace under
each policy (the same replay as `python -m benchmarks.city`, side by side in `--workers`
processes), prints one row per seed and policy, then per policy the mean and range of each
figure, and per baseline the seeds on which suanchou has higher CPU utilisation, a lower p95
wait, no more preemptions, and keeps the guarantee >= 99% (the issue's four targets against
Kueue-like and Slurm-like), and on how many it meets all four. No 统筹 headline (its bisection
costs up to six more replays per seed). Writes results.csv (one line per seed and policy) and
results.json under --out.

The defaults are the 40-node city of the README (10 departments, 800 jobs in 3 days, a cycle
every 600 simulated seconds, the real cycle's solver 0.1 s in deterministic mode): about 40 s
per suanchou replay on this machine.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.arguments import positive
from benchmarks.city.__main__ import (
    POLICIES,
    POOLED,
    VARIANTS,
    parse_names,
    replay,
    side_by_side,
)
from benchmarks.city.metrics import Metrics
from benchmarks.city.report import markdown_table
from benchmarks.city.trace import TraceParams, generate
from benchmarks.measure import machine_info

MAX_SEEDS = 100
GUARANTEE_TARGET = 0.99
BASELINES = ("kueue", "slurm")


@dataclass(frozen=True)
class Row:
    seed: int
    policy: str
    util_cpu: float
    wait_mean_h: float
    wait_p95_h: float
    wait_p99_h: float
    guarantee: float
    preemptions: int
    lost_replica_h: float
    finished: int
    jobs: int
    wall_s: float

    @classmethod
    def of(cls, seed: int, m: Metrics) -> Row:
        return cls(
            seed,
            m.policy,
            m.utilisation.get("cpu", 0.0),
            m.wait.mean_h,
            m.wait.p95_h,
            m.wait.p99_h,
            m.guarantee,
            m.preemptions,
            m.lost_replica_h,
            m.finished,
            m.jobs,
            m.wall_s,
        )


def parse_seeds(text: str) -> list[int]:
    """'1-10', '1,3,7' or a mix ('1-3,9'): distinct seeds in the order given, at most
    MAX_SEEDS."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a seed or a range: {part[:20]!r}") from None
        if last < first or last - first >= MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"bad range: {part[:20]!r}")
        out += [s for s in range(first, last + 1) if s not in out]
        if len(out) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds")
    return out


@dataclass(frozen=True)
class Wins:
    """Against one baseline, the seeds on which suanchou (or a variant of it) meets each
    target."""

    policy: str
    baseline: str
    seeds: int
    util: int  # higher CPU utilisation
    p95: int  # lower p95 wait
    preemptions: int  # no more preemptions
    guarantee: int  # its guarantee kept >= 99%
    all_four: int


def wins(rows: Sequence[Row], baseline: str, policy: str = "suanchou") -> Wins:
    ours = {r.seed: r for r in rows if r.policy == policy}
    theirs = {r.seed: r for r in rows if r.policy == baseline}
    seeds = sorted(set(ours) & set(theirs))
    checks = [
        (
            ours[s].util_cpu > theirs[s].util_cpu,
            ours[s].wait_p95_h < theirs[s].wait_p95_h,
            ours[s].preemptions <= theirs[s].preemptions,
            ours[s].guarantee >= GUARANTEE_TARGET,
        )
        for s in seeds
    ]
    util, p95, preemptions, guarantee = (sum(c[i] for c in checks) for i in range(4))
    return Wins(
        policy, baseline, len(seeds), util, p95, preemptions, guarantee, sum(all(c) for c in checks)
    )


@dataclass(frozen=True)
class VersusSeparate:
    """The issue's target against separate clusters on the same nodes: an overall p95 wait
    at least 50% lower (its other form, the same p95 per department on 25% fewer nodes, is
    the 统筹 bisection of `python -m benchmarks.city`)."""

    seeds: int
    halved: int  # seeds on which suanchou's p95 is at most half of separate clusters'
    mean_ratio: float  # mean over the seeds of suanchou's p95 / separate clusters' p95


def versus_separate(rows: Sequence[Row]) -> VersusSeparate | None:
    ours = {r.seed: r.wait_p95_h for r in rows if r.policy == "suanchou"}
    theirs = {r.seed: r.wait_p95_h for r in rows if r.policy == "separate"}
    seeds = sorted(s for s in set(ours) & set(theirs) if theirs[s] > 0)
    if not seeds:
        return None
    ratios = [ours[s] / theirs[s] for s in seeds]
    return VersusSeparate(len(seeds), sum(r <= 0.5 for r in ratios), sum(ratios) / len(ratios))


_FIGURES = (
    ("util cpu", "util_cpu", "{:.4f}"),
    ("wait mean h", "wait_mean_h", "{:.3f}"),
    ("p95 h", "wait_p95_h", "{:.3f}"),
    ("p99 h", "wait_p99_h", "{:.2f}"),
    ("guarantee %", "guarantee", "{:.2%}"),
    ("preempted", "preemptions", "{:.1f}"),
    ("lost replica-h", "lost_replica_h", "{:.0f}"),
)


def _cell(value: float, fmt: str) -> str:
    return str(value) if isinstance(value, int) else fmt.format(value).rstrip("%")


def text(
    rows: Sequence[Row],
    policies: Sequence[str],
    targets: Sequence[Wins],
    versus: VersusSeparate | None,
) -> str:
    per_seed = markdown_table(
        ["seed", "policy", *(h for h, _, _ in _FIGURES), "finished"],
        [
            [str(r.seed), r.policy]
            + [_cell(getattr(r, a), fmt) for _, a, fmt in _FIGURES]
            + [f"{r.finished}/{r.jobs}"]
            for r in rows
        ],
    )
    summary = []
    for p in policies:
        mine = [r for r in rows if r.policy == p]
        if not mine:
            continue
        cells = []
        for _, a, fmt in _FIGURES:
            values = [float(getattr(r, a)) for r in mine]
            mean, lo, hi = (
                fmt.format(v).rstrip("%")
                for v in (sum(values) / len(values), min(values), max(values))
            )
            cells.append(f"{mean} ({lo}-{hi})")
        summary.append([p, str(len(mine)), *cells])
    out = [
        per_seed,
        "",
        "mean (min-max) over the seeds:",
        markdown_table(["policy", "seeds", *(h for h, _, _ in _FIGURES)], summary),
    ]
    if targets:
        out += [
            "",
            "seeds on which suanchou meets each target against the baseline:",
            markdown_table(
                [
                    "policy",
                    "baseline",
                    "seeds",
                    "higher util",
                    "lower p95",
                    "no more preemptions",
                    "guarantee >= 99%",
                    "all four",
                ],
                [
                    [
                        w.policy,
                        w.baseline,
                        str(w.seeds),
                        str(w.util),
                        str(w.p95),
                        str(w.preemptions),
                        str(w.guarantee),
                        str(w.all_four),
                    ]
                    for w in targets
                ],
            ),
        ]
    if versus is not None:
        out += [
            "",
            f"against separate clusters: p95 wait at least 50% lower on {versus.halved} of "
            f"{versus.seeds} seeds (suanchou / separate, mean {versus.mean_ratio:.3f})",
        ]
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.city.seeds", description=__doc__)
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1-10"), help="e.g. 1-10")
    p.add_argument("--departments", type=positive(int), default=10)
    p.add_argument("--nodes", type=positive(int), default=40)
    p.add_argument("--jobs", type=positive(int), default=800)
    p.add_argument("--days", type=positive(float), default=3.0)
    p.add_argument("--load", type=positive(float), default=0.7)
    p.add_argument("--cycle", type=positive(float), default=600.0, help="simulated s")
    p.add_argument("--solver-time-limit", type=positive(float), default=0.1)
    p.add_argument(
        "--policies",
        default=",".join(POOLED),
        help=f"comma list among {', '.join((*POLICIES, *VARIANTS))}",
    )
    p.add_argument("--workers", type=positive(int), default=2)
    p.add_argument("--out", type=Path, default=Path("bench-results/city-seeds"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    policies = parse_names(args.policies, (*POLICIES, *VARIANTS), "--policies", parser)
    if not policies:
        parser.error("--policies: give at least one")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()
    calls = []
    for seed in args.seeds:
        try:
            params = TraceParams(
                departments=args.departments,
                nodes=args.nodes,
                jobs=args.jobs,
                days=args.days,
                seed=seed,
                load=args.load,
            )
        except ValueError as e:
            parser.error(str(e))
        trace = generate(params)
        # The real cycle's replays are the slowest: each seed's start first.
        for name in sorted(policies, key=lambda n: n in ("kueue", "slurm")):
            calls.append(
                (f"{seed}:{name}", replay, (name, trace, args.solver_time_limit, args.cycle))
            )
    rows: list[Row] = []
    for key, m in side_by_side(calls, args.workers):
        rows.append(Row.of(int(key.split(":")[0]), m))
        print(f"seed {key}: {m.finished}/{m.jobs} finished in {m.wall_s:.1f} s", file=sys.stderr)
    rows.sort(key=lambda r: (args.seeds.index(r.seed), policies.index(r.policy)))
    targets = [
        wins(rows, b, ours)
        for ours in ("suanchou", *VARIANTS)
        for b in BASELINES
        if b in policies and ours in policies
    ]
    versus = versus_separate(rows)
    print(text(rows, policies, targets, versus))
    args.out.mkdir(parents=True, exist_ok=True)
    fields = [f.name for f in dataclasses.fields(Row)]
    with (args.out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        writer.writerows([getattr(r, k) for k in fields] for r in rows)
    header = {
        "command": shlex.join(
            ["python", "-m", "benchmarks.city.seeds", *(sys.argv[1:] if argv is None else argv)]
        ),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "parameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": [{k: getattr(r, k) for k in fields} for r in rows],
        "versus_separate": None if versus is None else dataclasses.asdict(versus),
        "wins": [dataclasses.asdict(w) for w in targets],
    }
    (args.out / "results.json").write_text(
        json.dumps(header, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'results.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
