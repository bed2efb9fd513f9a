"""python -m benchmarks: run the synthetic track and the warm-start experiment, print the
table, write results.json and results.csv. Exit code 1 if any answer failed a check."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import machine_info
from benchmarks.report import Row, Run, table, write
from benchmarks.runner import (
    DEFAULT_TIME_LIMITS,
    Settings,
    SyntheticTrack,
    run_churn,
    run_track,
    validate_sizes,
)
from benchmarks.synthetic import SIZES

QUICK_SIZES = ("S",)
QUICK_SEEDS = (1,)
QUICK_TIME_LIMIT_S = 1.0


def parse_seeds(text: str) -> tuple[int, ...]:
    """'1', '1,2,5' or '1-3' (inclusive)."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad seed list {text!r}") from None
        if low < 0 or high < low:
            raise argparse.ArgumentTypeError(f"bad seed range {part!r}")
        seeds.extend(range(low, high + 1))
    return tuple(dict.fromkeys(seeds))


def parse_sizes(text: str) -> tuple[str, ...]:
    try:
        return validate_sizes([s.strip().upper() for s in text.split(",") if s.strip()])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the placement engine on seeded synthetic city workloads.",
    )
    p.add_argument("--sizes", type=parse_sizes, help="comma list of S, M, L (default S,M,L)")
    p.add_argument("--seeds", type=parse_seeds, help="e.g. 1 or 1,2,3 or 1-5 (default 1)")
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="engine budget per solve (default per size: "
        + ", ".join(f"{k} {v:g} s" for k, v in DEFAULT_TIME_LIMITS.items())
        + ")",
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="output directory (bench-results)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"CI subset: size S, seed 1, {QUICK_TIME_LIMIT_S:g} s, warm start on S",
    )
    p.add_argument(
        "--churn-size",
        help="size of the warm-start experiment, or 'none' (default M; S with --quick)",
    )
    p.add_argument("--churn", type=float, default=0.01, help="share of jobs that churn")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="engine's deterministic mode (time limit in deterministic units)",
    )
    p.add_argument("--workers", type=int, default=2, help="CP-SAT workers when not deterministic")
    p.add_argument("--engine-seed", type=int, default=0)
    p.add_argument(
        "--instance-timeout",
        type=float,
        metavar="SECONDS",
        help="cut-off per instance process (default 10 x time limit + 300 s)",
    )
    return p


@dataclass(frozen=True)
class Plan:
    """What to run (recorded in the output with the engine settings)."""

    sizes: tuple[str, ...]
    seeds: tuple[int, ...]
    time_limit_s: float | None  # None: DEFAULT_TIME_LIMITS per size
    quick: bool
    churn_size: str | None  # None: no warm-start experiment
    churn_fraction: float


def _plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Plan:
    if args.quick and (args.sizes or args.seeds or args.churn_size or args.time_limit):
        parser.error("--quick is a fixed subset; drop --sizes/--seeds/--churn-size/--time-limit")
    churn_size = "S" if args.quick else (args.churn_size or "M").upper()
    if churn_size != "NONE" and churn_size not in SIZES:
        parser.error(f"--churn-size: unknown size {churn_size!r}")
    if not 0 < args.churn <= 1:
        parser.error("--churn must be in (0, 1]")
    for flag in ("time_limit", "instance_timeout"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0")
    return Plan(
        sizes=QUICK_SIZES if args.quick else args.sizes or tuple(SIZES),
        seeds=QUICK_SEEDS if args.quick else args.seeds or (1,),
        time_limit_s=QUICK_TIME_LIMIT_S if args.quick else args.time_limit,
        quick=args.quick,
        churn_size=None if churn_size == "NONE" else churn_size,
        churn_fraction=args.churn,
    )


def _progress(row: Row) -> None:
    state = "FAILED" if row.failures else "ok"
    pct = "-" if row.pct_of_bound is None else f"{row.pct_of_bound:.3f}% of bound"
    secs = "-" if row.engine_s is None else f"{row.engine_s:.2f} s"
    print(f"{row.instance} {row.mode}: {state}, {pct}, {secs}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    plan = _plan(args, parser)
    settings = Settings(
        deterministic=args.deterministic,
        workers=args.workers,
        engine_seed=args.engine_seed,
        timeout_override_s=args.instance_timeout,
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()  # before the run: its load average is the others' load
    rows = run_track(SyntheticTrack(plan.sizes, plan.seeds, plan.time_limit_s), settings, _progress)
    if plan.churn_size is not None:
        limit = plan.time_limit_s
        if limit is None:
            limit = DEFAULT_TIME_LIMITS[plan.churn_size]
        rows += run_churn(
            plan.churn_size, plan.seeds[0], plan.churn_fraction, limit, settings, _progress
        )
    used = sorted({*plan.sizes, *([plan.churn_size] if plan.churn_size else [])})
    parameters = {
        **dataclasses.asdict(plan),
        **dataclasses.asdict(settings),
        "specs": {size: dataclasses.asdict(SIZES[size]) for size in used},
    }
    run = Run(
        command=shlex.join(
            ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]
        ),
        started_at=started,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine,
        parameters=parameters,
        rows=rows,
    )
    print(table(rows))
    json_path, csv_path = write(run, args.out)
    print(f"wrote {json_path} and {csv_path}", file=sys.stderr)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
