"""Behaviour fingerprint of `solve()`: the same answers before and after a refactoring.

    python -m benchmarks.engine_identity --out /tmp/before.json
    # ... change the engine ...
    python -m benchmarks.engine_identity --out /tmp/after.json --compare /tmp/before.json

solves a fixed set of seeded problems in deterministic mode and writes, per problem, a digest
of the answer (assignment, device ids and the evaluator's value) with the readable outcome
beside it (status, value, bound, source, notes). With `--compare` it exits 1 when a digest
differs from the earlier file's. The problems reach every stage of the pipeline (engine.py):

- `random-NN`: 20 small problems with every feature (tests/placement/random_problems.py:
  GPUs, overrides, quotas, services, running work), exact CP-SAT; every odd one with a warm
  start (the best_fit baseline's answer), every fourth with a gap target (early stop);
- `city*`: a small synthetic city (benchmarks/synthetic) cold (baselines, LP, LNS), after 5%
  churn from its own answer (warm start, focused search) and with a gap target;
- `gap-*`: generated GAP types c, d and e (benchmarks/tracks/gap_generate.py; regret start,
  LNS) and one OR-Library file (exact);
- `vbp-*`, `roadef-*`: a Panigrahy file (node fill) and ROADEF a1_1 (reassignment, LNS),
  when the benchmark data is there (`--data`, default ../shared/benchdata).

Deterministic mode repeats exactly unless a wall-clock safety cap is reached, which the
outcome's notes say: such a case is reported as "not repeatable", never as a difference. The
wall factor is raised to make that rare on a loaded machine. `--only PREFIX` runs a subset.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks import synthetic
from benchmarks.tracks import gap, gap_generate, roadef, vbp
from scheduler.placement import BASELINES, EngineParams, Outcome, Problem, Solution, solve
from tests.placement.random_problems import random_problem

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchdata"
# High enough that a loaded 2-core machine does not reach the deterministic mode's wall caps.
_WALL_FACTOR = 50.0
_CITY = synthetic.Spec("identity", jobs=300, nodes=30, clusters=3, regions=2, departments=4)
_RANDOM = 20
_CAP_NOTE = "wall-clock cap"  # in every note a reached wall-clock cap leaves (stages/)


@dataclass(frozen=True)
class Case:
    """One problem to solve: how to build it (and its warm start), and the params."""

    name: str
    build: Callable[[], tuple[Problem, Solution | None]]
    params: EngineParams


def _params(time_limit_s: float, seed: int = 0, gap_target: float = 0.0) -> EngineParams:
    return EngineParams(
        time_limit_s=time_limit_s, seed=seed, gap_target=gap_target, wall_factor=_WALL_FACTOR
    )


def _random(seed: int) -> tuple[Problem, Solution | None]:
    p = random_problem(seed)
    return p, BASELINES["best_fit"](p) if seed % 2 else None


def _city() -> tuple[Problem, Solution | None]:
    return synthetic.generate(_CITY, 1), None


def _churned_city() -> tuple[Problem, Solution | None]:
    p = synthetic.generate(_CITY, 1)
    first = solve(p, params=_params(0.5)).solution
    assert first is not None
    return synthetic.churn(p, first, 0.05, seed=1)


def _generated_gap(
    kind: str, agents: int = 20, jobs: int = 200
) -> Callable[[], tuple[Problem, Solution | None]]:
    return lambda: (gap.to_problem(gap_generate.generate(kind, agents, jobs, 1)), None)


def _file(load: Callable[[Path], Problem], path: Path) -> Callable[[], tuple[Problem, None]]:
    return lambda: (load(path), None)


def _roadef(path: Path) -> Problem:
    assignment = path.with_name(path.name.replace("model_", "assignment_"))
    return roadef.to_problem(roadef.load(path, assignment))


def cases(data: Path | None) -> Iterator[Case]:
    """Every case, in a fixed order; those that need a missing data file are left out."""
    for seed in range(_RANDOM):
        target = 0.05 if seed % 4 == 3 else 0.0
        yield Case(f"random-{seed:02d}", partial(_random, seed), _params(0.2, seed, target))
    yield Case("city", _city, _params(1.0))
    yield Case("city-churn", _churned_city, _params(1.0))
    yield Case("city-gap", _city, _params(1.0, gap_target=0.01))
    for kind in ("c", "d", "e"):
        yield Case(f"gap-{kind}20x200", _generated_gap(kind), _params(1.0))
    yield Case("gap-c40x400", _generated_gap("c", 40, 400), _params(1.0))
    if data is None:
        return
    files: list[tuple[str, Path, Callable[[Path], Problem]]] = [
        ("gap-gap1-0", data / "gap/cattrysse1994/gap1-0", lambda f: gap.to_problem(gap.load(f))),
        (
            "vbp-class1_120_10_0",
            data / "vbp/Panigrahy/class1/class1_120_10_0.vbp",
            lambda f: vbp.to_problem(vbp.load(f)),
        ),
        (
            "vbp-class7_250_10_0",
            data / "vbp/Panigrahy/class7/class7_250_10_0.vbp",
            lambda f: vbp.to_problem(vbp.load(f)),
        ),
        *(
            (f"roadef-{name}", data / f"roadef2012/A/model_{name}.txt", _roadef)
            for name in ("a1_1", "a1_2", "a2_1")
        ),
    ]
    for name, path, load in files:
        if path.is_file():
            yield Case(name, _file(load, path), _params(1.0))


def digest(outcome: Outcome) -> str:
    """sha256 of the answer: assignment, device ids and the evaluator's value."""
    solution = outcome.solution
    answer = {
        "assignment": None if solution is None else solution.assignment,
        "devices": None if solution is None else solution.devices,
        "value": outcome.value,
    }
    text = json.dumps(answer, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run(case: Case) -> dict[str, object]:
    """Solves one case: its digest and the readable outcome, with the progress events it
    heard (which stages ran) and its wall seconds; only the digest is compared."""
    p, warm = case.build()
    events: set[str] = set()

    def progress(event: str, fields: Mapping[str, object]) -> None:
        events.add(event)

    started = time.perf_counter()
    outcome = solve(p, params=case.params, progress=progress, warm_start=warm)
    return {
        "digest": digest(outcome),
        "status": str(outcome.status),
        "value": outcome.value,
        "upper_bound": outcome.upper_bound,
        "source": outcome.source,
        "placed": outcome.placed,
        "jobs": p.num_jobs,
        "notes": list(outcome.notes),
        "events": sorted(events),
        "params": dataclasses.asdict(case.params),
        "wall_s": round(time.perf_counter() - started, 2),
    }


def compare(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]) -> int:
    """Prints each case whose digest differs (or that only one run has); returns their count.
    A case whose notes say a wall-clock cap was reached is reported, not counted."""
    bad = 0
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            print(f"{name}: only in the {'new' if old is None else 'old'} run")
            bad += 1
        elif old["digest"] != new["digest"]:
            notes = [n for r in (old, new) for n in _notes(r) if _CAP_NOTE in n]
            verdict = "not repeatable (wall-clock cap)" if notes else "DIFFERS"
            print(f"{name}: {verdict}: value {old['value']} -> {new['value']}")
            bad += 0 if notes else 1
    return bad


def _notes(row: dict[str, object]) -> list[str]:
    notes = row.get("notes")
    return [str(n) for n in notes] if isinstance(notes, list) else []


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.engine_identity", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--out", type=Path, required=True, help="JSON file for the digests")
    ap.add_argument("--compare", type=Path, help="an earlier --out file: exit 1 on a difference")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the benchdata root")
    ap.add_argument("--only", default="", help="run only the cases whose name starts so")
    a = ap.parse_args(argv)
    data = a.data if a.data.is_dir() else None
    results: dict[str, dict[str, object]] = {}
    for case in cases(data):
        if not case.name.startswith(a.only):
            continue
        results[case.name] = row = run(case)
        print(f"{case.name}: {row['status']} value={row['value']} {row['wall_s']} s", flush=True)
    a.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if a.compare is None:
        return 0
    before = json.loads(a.compare.read_text())
    if a.only:
        before = {k: v for k, v in before.items() if k.startswith(a.only)}
    bad = compare(before, results)
    print(f"{len(results) - bad} of {len(results)} identical" if bad else "all identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
