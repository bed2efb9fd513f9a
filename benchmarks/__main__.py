"""python -m benchmarks (or `suanchou bench`): run the synthetic track and the warm-start
experiment and/or the published tracks (gap, vbp, roadef, openb) and/or the city simulator
(`--track city`: `benchmarks.city`, written under `<out>/city/`; its own flags through
`python -m benchmarks.city`; not part of `all`) and/or the API benchmark (`--track api`:
`benchmarks.api`, a real server under gRPC load, written under `<out>/api/`; its own flags
through `python -m benchmarks.api`; not part of `all`), print a table per track,
write results.json and results.csv (all rows), per track `<track>/results.{json,csv}`, its table
and PNG plots, and every published answer as a solution file under `solutions/<track>/`.
With --quick, also checks the rows against benchmarks/thresholds.toml and prints a
"regressions" section. Exit code 1 if any answer failed a check (a feasibility violation
included) or, with --quick, breached a threshold; 2 for bad arguments."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import published, thresholds
from benchmarks.api.__main__ import main as api_main
from benchmarks.city.__main__ import main as city_main
from benchmarks.measure import machine_info
from benchmarks.plots import write_plots
from benchmarks.progress import Progress
from benchmarks.report import Row, Run, table, track_table, write
from benchmarks.runner import (
    DEFAULT_TIME_LIMITS,
    Instance,
    Settings,
    SyntheticTrack,
    Track,
    run_churn,
    run_track,
    validate_sizes,
)
from benchmarks.synthetic import SIZES

TRACKS = ("synthetic", *published.PUBLISHED)
CITY = "city"  # the simulator of issue 9: minutes, not seconds, so only when named
API = "api"  # issue 11's "Keep up": a real server under load, minutes; only when named
ALONE = (CITY, API)  # tracks with their own module, flags and output
DEFAULT_TRACKS = ("synthetic",)
ENV_DATA = "SUANCHOU_BENCHDATA"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "benchdata"

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


def parse_tracks(text: str) -> tuple[str, ...]:
    """'synthetic,gap', 'city', 'api' or 'all' (every track but city and api)."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return TRACKS
    unknown = [t for t in names if t not in (*TRACKS, CITY, API)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown track(s) {unknown or text!r}; known: {', '.join(TRACKS)}, {CITY}, {API} "
            "or all"
        )
    return tuple(dict.fromkeys(names))


def data_root(flag: Path | None) -> Path | None:
    """--data, else $SUANCHOU_BENCHDATA, else ../shared/benchdata beside the repository when
    present; None when none of them names a folder."""
    if flag is not None:
        return flag
    configured = os.environ.get(ENV_DATA)
    if configured:
        return Path(configured)
    return DEFAULT_DATA if DEFAULT_DATA.is_dir() else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the placement engine on seeded synthetic city workloads and on "
        "published instances (GAP, vector bin packing, ROADEF 2012, the Alibaba GPU trace).",
    )
    p.add_argument(
        "--track",
        type=parse_tracks,
        help=f"comma list of {', '.join(TRACKS)}, {CITY}, {API}, or all (all but {CITY} and "
        f"{API}; default synthetic)",
    )
    p.add_argument(
        "--data",
        type=Path,
        metavar="PATH",
        help=f"benchmark data root (default ${ENV_DATA}, else {DEFAULT_DATA} when present)",
    )
    p.add_argument(
        "--filter",
        default="",
        metavar="SUBSTRING",
        help="only instances whose name contains SUBSTRING",
    )
    p.add_argument(
        "--baselines",
        action="store_true",
        help="published tracks: also the LP bound and the greedy baselines (engine's terms)",
    )
    p.add_argument("--sizes", type=parse_sizes, help="comma list of S, M, L (default S,M,L)")
    p.add_argument("--seeds", type=parse_seeds, help="e.g. 1 or 1,2,3 or 1-5 (default 1)")
    p.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="engine budget per solve (default per size: "
        + ", ".join(f"{k} {v:g} s" for k, v in DEFAULT_TIME_LIMITS.items())
        + "; per track: gap1-12 1 s, "
        + ", ".join(f"{k} {v:g} s" for k, v in published.DEFAULT_TIME_LIMITS.items())
        + ")",
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="output directory (bench-results)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"CI subset: size S, seed 1, {QUICK_TIME_LIMIT_S:g} s, warm start on S; "
        "a fixed few instances of each published track (benchmarks.published.QUICK)",
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
    p.add_argument("--engine-seed", "--seed", type=int, default=0, help="the engine's seed")
    p.add_argument(
        "--no-move-kernel",
        dest="move_kernel",
        action="store_false",
        help="the reassignment search in numpy, not on the compiled kernel (EngineParams)",
    )
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

    tracks: tuple[str, ...]
    data: str | None
    name_filter: str
    sizes: tuple[str, ...]
    seeds: tuple[int, ...]
    time_limit_s: float | None  # None: DEFAULT_TIME_LIMITS per size
    quick: bool
    churn_size: str | None  # None: no warm-start experiment
    churn_fraction: float


def _plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Plan:
    if args.quick and (args.sizes or args.seeds or args.churn_size or args.time_limit):
        parser.error("--quick is a fixed subset; drop --sizes/--seeds/--churn-size/--time-limit")
    tracks = args.track or DEFAULT_TRACKS
    data = data_root(args.data)
    if any(t in published.PUBLISHED for t in tracks):
        if data is None:
            parser.error(f"no benchmark data: give --data or set {ENV_DATA}")
        if not data.is_dir():
            parser.error(f"--data: {data} is not a folder")
    churn_size = "S" if args.quick else (args.churn_size or "M").upper()
    if "synthetic" not in tracks:
        churn_size = "NONE"
    if churn_size != "NONE" and churn_size not in SIZES:
        parser.error(f"--churn-size: unknown size {churn_size!r}")
    if not 0 < args.churn <= 1:
        parser.error("--churn must be in (0, 1]")
    for flag in ("time_limit", "instance_timeout"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0")
    return Plan(
        tracks=tracks,
        data=None if data is None else str(data),
        name_filter=args.filter,
        sizes=QUICK_SIZES if args.quick else args.sizes or tuple(SIZES),
        seeds=QUICK_SEEDS if args.quick else args.seeds or (1,),
        time_limit_s=QUICK_TIME_LIMIT_S if args.quick else args.time_limit,
        quick=args.quick,
        churn_size=None if churn_size == "NONE" else churn_size,
        churn_fraction=args.churn,
    )


def _published_tracks(plan: Plan, out: Path, baselines: bool) -> list[Track]:
    solutions = out / "solutions"
    tracks: list[Track] = []
    for name in plan.tracks:
        if name not in published.PUBLISHED:
            continue
        assert plan.data is not None
        root = Path(plan.data)
        if plan.quick:
            track = published.quick_track(name, root, solutions)
            track = dataclasses.replace(track, name_filter=plan.name_filter, compare=baselines)
        else:
            track = published.PublishedTrack(
                track=name,
                root=root,
                time_limit_s=plan.time_limit_s,
                name_filter=plan.name_filter,
                solutions=solutions,
                compare=baselines,
            )
        tracks.append(track)
    return tracks


def _instances(tracks: Sequence[Track], parser: argparse.ArgumentParser) -> list[list[Instance]]:
    try:
        return [list(track.instances()) for track in tracks]
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))


def _write_track(run: Run, out: Path, track: str) -> None:
    """`out/<track>/`: results.json, results.csv, table.txt and the two plots."""
    part = run.only(track)
    folder = out / track
    write(part, folder)
    (folder / "table.txt").write_text(track_table(part.rows) + "\n", encoding="utf-8")
    write_plots(part.rows, folder, track)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    plan = _plan(args, parser)
    codes = []
    for track, entry in ((CITY, city_main), (API, api_main)):
        if track in plan.tracks:
            codes.append(
                entry([*(["--quick"] if plan.quick else []), "--out", str(args.out / track)])
            )
    rest = tuple(t for t in plan.tracks if t not in ALONE)
    if rest:
        codes.append(_placement(dataclasses.replace(plan, tracks=rest), args, parser, argv))
    return max(codes)


def _placement(
    plan: Plan,
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
) -> int:
    """The placement tracks (synthetic, published)."""
    settings = Settings(
        deterministic=args.deterministic,
        workers=args.workers,
        engine_seed=args.engine_seed,
        move_kernel=args.move_kernel,
        timeout_override_s=args.instance_timeout,
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_info()  # before the run: its load average is the others' load
    tracks: list[Track] = []
    if "synthetic" in plan.tracks:
        tracks.append(SyntheticTrack(plan.sizes, plan.seeds, plan.time_limit_s))
    tracks += _published_tracks(plan, args.out, args.baselines)
    per_track = _instances(tracks, parser)
    if plan.name_filter:
        per_track = [[i for i in found if plan.name_filter in i.name] for found in per_track]
    churn_rows = 2 if plan.churn_size is not None else 0
    progress = Progress(sum(len(found) for found in per_track) + churn_rows)
    rows: list[Row] = []
    for track, found in zip(tracks, per_track, strict=True):
        rows += run_track(track, settings, progress, instances=found)
        if track.name == "synthetic" and plan.churn_size is not None:
            limit = plan.time_limit_s
            if limit is None:
                limit = DEFAULT_TIME_LIMITS[plan.churn_size]
            rows += run_churn(
                plan.churn_size, plan.seeds[0], plan.churn_fraction, limit, settings, progress
            )
    progress.close()
    used = sorted({*plan.sizes, *([plan.churn_size] if plan.churn_size else [])})
    parameters = {
        **dataclasses.asdict(plan),
        **dataclasses.asdict(settings),
        "specs": {size: dataclasses.asdict(SIZES[size]) for size in used}
        if "synthetic" in plan.tracks
        else {},
        "baselines": args.baselines,
        "quick_subset": {
            t: {"instances": list(names), "time_limit_s": limit}
            for t, (names, limit) in published.QUICK.items()
            if t in plan.tracks
        }
        if plan.quick
        else {},
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
    for track in tracks:
        part = run.only(track.name)
        print(f"== {track.name} ==")
        print(table(part.rows) if track.name == "synthetic" else track_table(part.rows))
        print()
    json_path, csv_path = write(run, args.out)
    for track in tracks:
        _write_track(run, args.out, track.name)
    print(
        f"wrote {json_path} and {csv_path}; per track: "
        + ", ".join(f"{args.out / t.name}/" for t in tracks),
        file=sys.stderr,
    )
    regressed = False
    if plan.quick:
        outcome = thresholds.check(run.rows, thresholds.load())
        print(thresholds.report(outcome))
        regressed = outcome.failed
    return 1 if run.failed or regressed else 0


if __name__ == "__main__":
    sys.exit(main())
