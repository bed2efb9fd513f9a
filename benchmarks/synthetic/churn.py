"""The next cycle of a synthetic city: what ran keeps running, some of it ends, as much new
work arrives (the warm-start experiment of `python -m benchmarks --churn`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from benchmarks.synthetic.city import seeded_rng
from scheduler.placement.model import Override, Problem, Solution


def churn(p: Problem, solution: Solution, fraction: float, seed: int) -> tuple[Problem, Solution]:
    """The next cycle after `solution`: its placed jobs now run (job_current), `fraction` of
    all jobs finished (drawn among the running ones) and as many new ones arrived (copies of
    jobs drawn from the whole workload: same shape, department and node set, so the mix stays
    the same). Returns the problem and the warm start: the running jobs where they are, every
    queued or new job unplaced. Survivors keep their index order; arrivals come last."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in 0..1, got {fraction}")
    if len(solution.assignment) != p.num_jobs:
        raise ValueError("solution does not match the problem's jobs")
    rng = seeded_rng(seed, "churn")
    running = [j for j, a in enumerate(solution.assignment) if a is not None]
    count = min(len(running), round(fraction * p.num_jobs))
    finished = set(rng.sample(running, count))
    survivors = [j for j in range(p.num_jobs) if j not in finished]
    arrivals = [rng.randrange(p.num_jobs) for _ in range(count)]
    source = survivors + arrivals  # the job each new index copies
    new_index = {old: new for new, old in enumerate(survivors)}

    def column(values: Sequence[int]) -> tuple[int, ...]:
        return tuple(values[j] for j in source) if values else ()

    current = tuple(solution.assignment[j] for j in survivors) + (None,) * count
    devices = solution.devices
    warm_devices = tuple(devices[j] for j in survivors) + (None,) * count if devices else ()
    first_new = max(p.job_order, default=-1) + 1
    nxt = dataclasses.replace(
        p,
        job_demand=tuple(p.job_demand[j] for j in source),
        job_replicas=column(p.job_replicas),
        job_priority=column(p.job_priority),
        job_order=tuple(p.job_order[j] for j in survivors)
        + tuple(range(first_new, first_new + count)),
        job_nodes=column(p.job_nodes),
        job_required=tuple(p.job_required[j] for j in source) if p.job_required else (),
        job_current=current,
        job_move_cost=column(p.job_move_cost),
        job_preempt_cost=column(p.job_preempt_cost),
        job_department=column(p.job_department),
        job_names=_churned_names(p.job_names, survivors, arrivals),
        overrides=_churned_overrides(p, new_index, arrivals, len(survivors)),
        services=tuple(
            dataclasses.replace(s, jobs=tuple(new_index[j] for j in s.jobs if j in new_index))
            for s in p.services
        ),
        meta=(*p.meta, ("churn", f"{fraction:g}"), ("churn_seed", str(seed))),
    )
    return nxt, Solution(assignment=current, devices=warm_devices)


def _churned_names(
    names: tuple[str, ...], survivors: list[int], arrivals: list[int]
) -> tuple[str, ...]:
    if not names:
        return ()
    return tuple(names[j] for j in survivors) + tuple(
        f"{names[j]}+{k}" for k, j in enumerate(arrivals)
    )


def _churned_overrides(
    p: Problem, new_index: dict[int, int], arrivals: list[int], first_arrival: int
) -> tuple[Override, ...]:
    """Overrides follow their job to its new index; an arrival copies its source's."""
    by_job: dict[int, list[Override]] = {}
    for o in p.overrides:
        by_job.setdefault(o.job, []).append(o)
    kept = [dataclasses.replace(o, job=new_index[o.job]) for o in p.overrides if o.job in new_index]
    for k, j in enumerate(arrivals):
        kept += [dataclasses.replace(o, job=first_arrival + k) for o in by_job.get(j, ())]
    return tuple(kept)
