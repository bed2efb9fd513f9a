"""Independent feasibility checker: every engine's answer is validated here before it is used.

It recomputes everything from the problem data and shares no code with the engines, so a bug in
the model or the greedy cannot hide itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.placement.problem import Problem


def check(p: Problem, assignment: Sequence[Sequence[int] | None]) -> list[str]:
    """Every violation of `assignment` as a readable line; an empty list means feasible."""
    if len(assignment) != p.num_jobs:
        return [f"assignment has {len(assignment)} entries, expected {p.num_jobs} (one per job)"]
    errors: list[str] = []
    used = [[0] * p.num_resources for _ in range(p.num_nodes)]
    for j, nodes in enumerate(assignment):
        if nodes is None:
            continue
        valid = _check_job(p, j, nodes, errors)
        for n in valid:
            for r, d in enumerate(p.job_demand[j]):
                used[n][r] += d
    for n in range(p.num_nodes):
        for r in range(p.num_resources):
            if used[n][r] > p.node_free[n][r]:
                errors.append(
                    f"{p.node_label(n)}: {p.resources[r]} used {used[n][r]} "
                    f"> free {p.node_free[n][r]}"
                )
    return errors


def _check_job(p: Problem, j: int, nodes: Sequence[int], errors: list[str]) -> list[int]:
    """Appends the job's own violations; returns its replicas' nodes that exist."""
    where = f"job {j}"
    if len(nodes) != p.job_replicas[j]:
        errors.append(
            f"{where}: {len(nodes)} replicas placed, expected {p.job_replicas[j]} "
            "(a gang is placed all or none)"
        )
    eligible = set(p.job_eligible[j])
    valid: list[int] = []
    for i, n in enumerate(nodes):
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < p.num_nodes:
            errors.append(f"{where}: replica {i} on node {n!r}, which does not exist")
            continue
        valid.append(n)
        if n not in eligible:
            errors.append(f"{where}: replica {i} on {p.node_label(n)}, which is not eligible")
    groups = sorted({p.node_group[n] for n in valid})
    if len(groups) > 1:
        names = ", ".join(p.group_label(g) for g in groups)
        errors.append(f"{where}: replicas span groups {names} (a gang stays in one group)")
    return valid
