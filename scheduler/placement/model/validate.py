"""Validation of an engine-v2 `Problem` (model/problem.py) at construction.

Every message names the offending index ("job 3: replicas must be >= 1, got 0") so a builder bug
is found from the message alone. The checks run in time linear in the size of the input: each
field is first tested as a whole by C-level passes (`set(map(type, ...))`, `min`, `max`), and only
when such a pass fails is the field walked element by element to name the first culprit. A
100,000-job x 5,000-node problem validates in well under a second this way.

Besides the contract of model/problem.py this module fixes three rules the engines may rely on:
- on a node with GPU devices, `node_reserved[n][gpu_resource]` must be 0: reserved usage has no
  device ids, so the builder leaves devices held by fixed work out of `node_devices` (and the
  capacity) or describes that work as a running job;
- `node_move_cost` has a zero diagonal (a replica that stays does not move);
- `node_reserved` never exceeds the capacity (else no solution at all would be feasible).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scheduler.placement.model.limits import (
    MAX_COST,
    MAX_DEVICES,
    MAX_INDEX,
    MAX_ORDER,
    MAX_PRICE,
    MAX_PRIORITY,
    MAX_QUANTITY,
    MAX_REPLICAS,
    MAX_RESOURCE_VALUE,
    MAX_RESOURCES,
    MAX_TOTAL_REPLICAS,
    MAX_WEIGHT,
    SHARES_PER_DEVICE,
    InvalidProblem,
)
from scheduler.placement.model.validate_jobs import (
    check_balances,
    check_jobs,
    check_names,
    check_overrides,
    check_quotas,
    check_running,
    check_services,
)
from scheduler.placement.model.validate_nodes import (
    check_devices,
    check_node_sets,
    check_nodes,
    check_resources,
)

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

__all__ = [
    "MAX_COST",
    "MAX_DEVICES",
    "MAX_INDEX",
    "MAX_ORDER",
    "MAX_PRICE",
    "MAX_PRIORITY",
    "MAX_QUANTITY",
    "MAX_REPLICAS",
    "MAX_RESOURCES",
    "MAX_RESOURCE_VALUE",
    "MAX_TOTAL_REPLICAS",
    "MAX_WEIGHT",
    "SHARES_PER_DEVICE",
    "InvalidProblem",
    "validate",
]


def validate(p: Problem) -> None:
    """Raises InvalidProblem naming the first offending index; returns None if `p` is valid."""
    check_resources(p)
    check_nodes(p)
    check_node_sets(p)
    check_jobs(p)
    check_devices(p)  # after check_jobs: reads the (validated) GPU column of the demands
    check_running(p)
    check_overrides(p)
    check_quotas(p)
    check_services(p)
    check_balances(p)
    check_names(p)
