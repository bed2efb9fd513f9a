"""The OpenB experiment: online replay of the trace under the published policies, and the engine
on the whole pod list as one batch, all scored by openb.py's independent evaluator.

Online replay (`replay`): pods arrive in `job_order` (openb.Instance.arrival) into the empty
cluster; a policy (openb_policies) places each pod when it arrives, for good, or the pod stays
unplaced; the run goes on to the end of the list (a later, smaller pod may still fit). The paper
measures the share of the GPU capacity allocated "when no further pod fits": reported here as
the share allocated when the first pod fails (`share_at_first_failure`) and at the end of the
list (`share`), both computed by openb.evaluate on the placement at that point.

Engine batch (`engine_batch`): the whole pod list as one problem (openb.to_problem), solved by
scheduler.placement.solve within a time limit. It sees every pod at once and may leave any out,
so it is an offline answer next to the online policies, not an online one.

`compare(inst, time_limit_s)` runs best-fit, worst-fit, FGD, the engine batch from scratch
("engine-batch") and the engine batch given FGD's replay as its warm start ("engine+fgd": the
engine as a batch improver of the online answer), and returns one `Row` each: allocation share,
fragmentation (openb.fragmentation against the pod list's own workload), time; every answer is
checked by scheduler.placement.check and openb.evaluate, and a violation raises. `python -m
benchmarks.tracks.openb_replay [--data DIR] [--time-limit S] [NAME ...]` prints the table for
the default trace and its variants.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import openb
from benchmarks.tracks.openb_policies import FGD, BestFit, Cluster, Policy, WorstFit
from scheduler.placement import EngineParams, Problem, Solution, check, solve


class InfeasibleAnswer(AssertionError):
    """An answer failed scheduler.placement.check or the track's evaluator."""


@dataclass(frozen=True)
class Replay:
    policy: str
    solution: Solution  # the engine's form, indexed like openb.to_problem(inst)
    first_failure: int | None  # arrival position of the first pod that fitted nowhere
    share_at_first_failure: float  # GPU share allocated then (= share if none failed)
    share: float  # GPU share allocated at the end of the list
    seconds: float


@dataclass(frozen=True)
class Row:
    instance: str
    method: str  # best-fit, worst-fit, fgd, engine-batch, engine+fgd
    pods: int
    placed: int
    share: float  # GPU capacity share allocated at the end (openb.evaluate)
    share_at_first_failure: float | None  # online replays only
    fragmentation_rate: float  # F(M) / unallocated GPU capacity
    fragmentation_gpus: float  # F(M) in GPUs
    seconds: float
    note: str = ""


def _solution(
    inst: openb.Instance, node: Sequence[int], gpus: Sequence[tuple[int, ...]]
) -> Solution:
    assignment = tuple((n,) if n >= 0 else None for n in node)
    devices = tuple(
        (g,) if n >= 0 and pod.num_gpu else None
        for pod, n, g in zip(inst.pods, node, gpus, strict=True)
    )
    return Solution(assignment, devices)


def _share(inst: openb.Instance, node: Sequence[int], gpus: Sequence[tuple[int, ...]]) -> float:
    evaluation = openb.evaluate(inst, openb.OpenbSolution(tuple(node), tuple(gpus)))
    if not evaluation.feasible:
        raise InfeasibleAnswer("; ".join(evaluation.violations[:5]))
    return float(evaluation.objective)


def replay(inst: openb.Instance, policy: Policy) -> Replay:
    """Places the pods of `inst` one by one in arrival order with `policy`."""
    start = time.perf_counter()
    cluster = Cluster(inst.nodes)
    node = [-1] * len(inst.pods)
    gpus: list[tuple[int, ...]] = [()] * len(inst.pods)
    first_failure: int | None = None
    at_failure: tuple[list[int], list[tuple[int, ...]]] | None = None
    for position, j in enumerate(inst.arrival):
        pod = inst.pods[j]
        choice = policy.choose(cluster, pod)
        if choice is None:
            if first_failure is None:
                first_failure = position
                at_failure = (list(node), list(gpus))
            continue
        cluster.place(choice[0], pod, choice[1])
        node[j], gpus[j] = choice
    seconds = time.perf_counter() - start
    share = _share(inst, node, gpus)
    return Replay(
        policy=policy.name,
        solution=_solution(inst, node, gpus),
        first_failure=first_failure,
        share_at_first_failure=share if at_failure is None else _share(inst, *at_failure),
        share=share,
        seconds=seconds,
    )


def policies(inst: openb.Instance) -> tuple[Policy, ...]:
    """Best-fit, worst-fit and FGD (against the pod list's own workload) for `inst`."""
    return BestFit(), WorstFit(), FGD(openb.workload(inst.pods))


def engine_batch(
    inst: openb.Instance,
    time_limit_s: float = 10.0,
    problem: Problem | None = None,
    warm_start: Solution | None = None,
) -> tuple[Solution, float]:
    """The whole pod list as one problem for scheduler.placement.solve: (solution, seconds).

    `warm_start` (e.g. FGD's replay) is handed to solve as the scheduler hands it the previous
    cycle's placement: a candidate that competes and seeds the search. The engine runs on
    wall-clock time, as the runner and the scheduler's cycle run it: its deterministic mode
    counts work, and on a loaded machine a 60 s budget took 120-250 s."""
    problem = problem or openb.to_problem(inst)
    start = time.perf_counter()
    params = EngineParams(time_limit_s=time_limit_s, deterministic=False)
    outcome = solve(problem, params=params, warm_start=warm_start)
    seconds = time.perf_counter() - start
    if outcome.solution is None:
        return Solution((None,) * len(inst.pods)), seconds
    return outcome.solution, seconds


def score(
    inst: openb.Instance,
    problem: Problem,
    solution: Solution,
    method: str,
    seconds: float,
    tasks: Sequence[openb.TaskType],
    share_at_first_failure: float | None = None,
) -> Row:
    """One row, after scheduler.placement.check and openb.evaluate accept the answer."""
    errors = check(problem, solution)
    if errors:
        raise InfeasibleAnswer(f"{method} on {inst.name}: {'; '.join(errors[:5])}")
    track = openb.from_solution(inst, problem, solution)
    evaluation = openb.evaluate(inst, track)
    if not evaluation.feasible:
        raise InfeasibleAnswer(f"{method} on {inst.name}: {'; '.join(evaluation.violations[:5])}")
    frag = openb.fragmentation(inst, track, tasks)
    return Row(
        instance=inst.name,
        method=method,
        pods=len(inst.pods),
        placed=sum(1 for n in track.node if n >= 0),
        share=float(evaluation.objective),
        share_at_first_failure=share_at_first_failure,
        fragmentation_rate=frag.rate,
        fragmentation_gpus=frag.gpus,
        seconds=seconds,
    )


def compare(inst: openb.Instance, time_limit_s: float = 10.0) -> list[Row]:
    """Best-fit, worst-fit and FGD replays and the engine batch (cold, and warm-started from
    FGD's replay) on `inst`, scored alike."""
    problem = openb.to_problem(inst)
    tasks = openb.workload(inst.pods)
    rows = []
    fgd: Solution | None = None
    for policy in policies(inst):
        run = replay(inst, policy)
        if isinstance(policy, FGD):
            fgd = run.solution
        rows.append(
            score(
                inst,
                problem,
                run.solution,
                run.policy,
                run.seconds,
                tasks,
                run.share_at_first_failure,
            )
        )
    solution, seconds = engine_batch(inst, time_limit_s, problem)
    rows.append(score(inst, problem, solution, "engine-batch", seconds, tasks))
    solution, seconds = engine_batch(inst, time_limit_s, problem, warm_start=fgd)
    rows.append(score(inst, problem, solution, "engine+fgd", seconds, tasks))
    return rows


def _header() -> str:
    return (
        f"{'instance':<11} {'method':<12} {'placed':>11} {'share':>7} {'@1st fail':>9} "
        f"{'frag rate':>9} {'frag GPUs':>9} {'time s':>7}"
    )


def _line(r: Row) -> str:
    first = "" if r.share_at_first_failure is None else f"{r.share_at_first_failure:.4f}"
    return (
        f"{r.instance:<11} {r.method:<12} {f'{r.placed}/{r.pods}':>11} {r.share:>7.4f} "
        f"{first:>9} {r.fragmentation_rate:>9.4f} {r.fragmentation_gpus:>9.1f} "
        f"{r.seconds:>7.1f}"
    )


def format_rows(rows: Sequence[Row]) -> str:
    """The rows as a plain-text table."""
    return "\n".join([_header(), "-" * len(_header()), *map(_line, rows)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="pod lists (default, cpu050, ...); default all")
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "benchdata"
    )
    parser.add_argument("--time-limit", type=float, default=10.0, help="engine batch, seconds")
    args = parser.parse_args(argv)
    print(_header(), flush=True)
    for name, path in openb.instances(args.data):
        if not args.names or name in args.names:
            for row in compare(openb.load(path), args.time_limit):
                print(_line(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
