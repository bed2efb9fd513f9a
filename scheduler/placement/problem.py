"""The placement problem of one scheduling cycle: index-based integer data, validated on creation.

The scheduler builds a `Problem` from its snapshot; everything here is plain tuples of ints so the
solver never sees domain objects, and every error message names the offending index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.placement.objective import job_work

# Bounds that keep every product the solver forms far inside int64 (objective values stay below
# 2^53, see objective.py): quantities up to 1 EiB in MiB, replicas and priorities beyond what the
# domain allows, prices as integers the builder has already scaled to its unit of account.
MAX_QUANTITY = 1 << 40
MAX_PRICE = 1 << 30
MAX_REPLICAS = 1 << 14
MAX_PRIORITY = 1000
MAX_RESOURCES = 32
# Each objective coefficient is below 2^53 and each job has one per group it may use: 256 groups
# keep CP-SAT's int64 overflow check (sum of |coefficient| * domain) satisfied with room.
MAX_GROUPS = 256
# Leaves at least 2^9 cost levels under the 2^53 objective limit (objective.py).
MAX_TOTAL_WORK = 1 << 44


class InvalidProblem(ValueError):
    """The problem data is inconsistent; the message names the offending index."""


@dataclass(frozen=True)
class Problem:
    """One cycle's placement problem; all sequences are indexed by resource, node, group or job.

    `node_free` is what is free now (capacity minus running work); `node_capacity` is the total,
    used to tell "could fit if empty" from "full now". A job is a gang of `job_replicas` identical
    replicas that are placed all together in ONE group (cluster), or not at all.
    `job_eligible` lists the nodes that pass every constraint of the job (filtered by the caller).
    `node_names` / `group_names` are optional and only make explanations readable.
    """

    resources: tuple[str, ...]
    node_free: tuple[tuple[int, ...], ...]
    node_capacity: tuple[tuple[int, ...], ...]
    node_group: tuple[int, ...]
    group_cost: tuple[tuple[int, ...], ...]
    job_demand: tuple[tuple[int, ...], ...]
    job_replicas: tuple[int, ...]
    job_priority: tuple[int, ...]
    job_order: tuple[int, ...]
    job_eligible: tuple[tuple[int, ...], ...]
    node_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def num_resources(self) -> int:
        return len(self.resources)

    @property
    def num_nodes(self) -> int:
        return len(self.node_free)

    @property
    def num_groups(self) -> int:
        return len(self.group_cost)

    @property
    def num_jobs(self) -> int:
        return len(self.job_demand)

    def node_label(self, node: int) -> str:
        """'node gpu-1' when names are given, else 'node 3'."""
        return f"node {self.node_names[node] if self.node_names else node}"

    def group_label(self, group: int) -> str:
        """'group cluster-a' when names are given, else 'group 0'."""
        return f"group {self.group_names[group] if self.group_names else group}"


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as a quantity is always a builder bug.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(value: object, where: str, low: int, high: int) -> None:
    if not _is_int(value):
        raise InvalidProblem(f"{where} must be an integer, got {value!r}")
    assert isinstance(value, int)
    if value < low:
        raise InvalidProblem(f"{where} must be >= {low}, got {value}")
    if value > high:
        raise InvalidProblem(f"{where} must be <= {high}, got {value}")


def _check_row(row: Sequence[object], width: int, where: str, field: str, high: int) -> None:
    if not isinstance(row, tuple):
        raise InvalidProblem(f"{where}: {field} must be a tuple, got {type(row).__name__}")
    if len(row) != width:
        raise InvalidProblem(f"{where}: {field} has {len(row)} entries, expected {width}")
    for r, value in enumerate(row):
        _check_int(value, f"{where}: {field}[{r}]", 0, high)


def _check_length(seq: Sequence[object], expected: int, field: str, unit: str) -> None:
    if not isinstance(seq, tuple):
        raise InvalidProblem(f"problem: {field} must be a tuple, got {type(seq).__name__}")
    if len(seq) != expected:
        raise InvalidProblem(
            f"problem: {field} has {len(seq)} entries, expected {expected} (one per {unit})"
        )


def _validate(p: Problem) -> None:
    _validate_resources(p)
    _validate_nodes(p)
    _validate_jobs(p)
    _validate_scale(p)


def _validate_scale(p: Problem) -> None:
    # The solver needs the priority-weighted work of all jobs to stay far below 2^53 so that the
    # cost tie-breaker still has room (objective.py); real cycles are many orders of magnitude
    # smaller, so hitting this means a builder bug or a cycle that should be split.
    total = sum(job_work(p))
    if total > MAX_TOTAL_WORK:
        raise InvalidProblem(
            f"problem: total weighted work {total} exceeds {MAX_TOTAL_WORK}; "
            "split the cycle into smaller batches"
        )


def _validate_resources(p: Problem) -> None:
    if not isinstance(p.resources, tuple) or not p.resources:
        raise InvalidProblem("problem: resources must be a non-empty tuple of names")
    if len(p.resources) > MAX_RESOURCES:
        raise InvalidProblem(f"problem: at most {MAX_RESOURCES} resources, got {len(p.resources)}")
    seen: set[str] = set()
    for r, name in enumerate(p.resources):
        if not isinstance(name, str) or not name:
            raise InvalidProblem(f"resource {r}: name must be a non-empty string")
        if name in seen:
            raise InvalidProblem(f"resource {r}: name {name!r} repeats")
        seen.add(name)


def _validate_nodes(p: Problem) -> None:
    width = p.num_resources
    _check_length(p.group_cost, p.num_groups, "group_cost", "group")
    if p.num_groups > MAX_GROUPS:
        raise InvalidProblem(f"problem: at most {MAX_GROUPS} groups, got {p.num_groups}")
    for g, prices in enumerate(p.group_cost):
        _check_row(prices, width, f"group {g}", "cost", MAX_PRICE)
    n = p.num_nodes
    _check_length(p.node_free, n, "node_free", "node")
    _check_length(p.node_capacity, n, "node_capacity", "node")
    _check_length(p.node_group, n, "node_group", "node")
    for node in range(n):
        where = f"node {node}"
        _check_row(p.node_capacity[node], width, where, "capacity", MAX_QUANTITY)
        _check_row(p.node_free[node], width, where, "free", MAX_QUANTITY)
        for r in range(width):
            free, cap = p.node_free[node][r], p.node_capacity[node][r]
            if free > cap:
                raise InvalidProblem(f"{where}: free[{r}] = {free} exceeds capacity[{r}] = {cap}")
        group = p.node_group[node]
        _check_int(group, f"{where}: group", 0, MAX_GROUPS)
        if group >= p.num_groups:
            raise InvalidProblem(f"{where}: group {group} does not exist ({p.num_groups} groups)")
    _check_names(p.node_names, n, "node_names")
    _check_names(p.group_names, p.num_groups, "group_names")


def _check_names(names: tuple[str, ...], count: int, field: str) -> None:
    if not isinstance(names, tuple):
        raise InvalidProblem(f"problem: {field} must be a tuple")
    if names and len(names) != count:
        raise InvalidProblem(f"problem: {field} has {len(names)} entries, expected {count} or 0")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise InvalidProblem(f"problem: {field}[{i}] must be a string, got {name!r}")


def _validate_jobs(p: Problem) -> None:
    j = p.num_jobs
    _check_length(p.job_demand, j, "job_demand", "job")
    _check_length(p.job_replicas, j, "job_replicas", "job")
    _check_length(p.job_priority, j, "job_priority", "job")
    _check_length(p.job_order, j, "job_order", "job")
    _check_length(p.job_eligible, j, "job_eligible", "job")
    order_owner: dict[int, int] = {}
    for job in range(j):
        where = f"job {job}"
        _check_row(p.job_demand[job], p.num_resources, where, "demand", MAX_QUANTITY)
        # A job asking for nothing is almost always a resource-name mismatch in the builder.
        if not any(p.job_demand[job]):
            raise InvalidProblem(f"{where}: demand must have at least one positive entry")
        _check_int(p.job_replicas[job], f"{where}: replicas", 1, MAX_REPLICAS)
        _check_int(p.job_priority[job], f"{where}: priority", 0, MAX_PRIORITY)
        order = p.job_order[job]
        _check_int(order, f"{where}: order", -(1 << 62), 1 << 62)
        if order in order_owner:
            raise InvalidProblem(
                f"{where}: order {order} repeats job {order_owner[order]}'s (FIFO ranks are unique)"
            )
        order_owner[order] = job
        _validate_eligible(p, job)


def _validate_eligible(p: Problem, job: int) -> None:
    nodes = p.job_eligible[job]
    if not isinstance(nodes, tuple):
        raise InvalidProblem(f"job {job}: eligible must be a tuple of node indices")
    seen: set[int] = set()
    for node in nodes:
        _check_int(node, f"job {job}: eligible node", 0, 1 << 62)
        if node >= p.num_nodes:
            raise InvalidProblem(
                f"job {job}: eligible node {node} does not exist ({p.num_nodes} nodes)"
            )
        if node in seen:
            raise InvalidProblem(f"job {job}: eligible node {node} is listed twice")
        seen.add(node)
