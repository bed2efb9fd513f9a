"""Validation of the resource and node fields of a `Problem` (validate.py): resources, nodes,
node sets, GPU devices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scheduler.placement.model.limits import (
    INTS,
    MAX_COST,
    MAX_DEVICES,
    MAX_INDEX,
    MAX_PRICE,
    MAX_QUANTITY,
    MAX_RESOURCE_VALUE,
    MAX_RESOURCES,
    MAX_WEIGHT,
    SHARES_PER_DEVICE,
    as_tuple,
    bools,
    check_int,
    fail,
    gpu_share_ok,
    indices,
    int_ok,
    ints_ok,
    matrix,
    resource_label,
    vector,
)

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem


def check_resources(p: Problem) -> None:
    names = as_tuple(p.resources, "resources")
    if not names:
        raise fail("problem: resources must name at least one resource")
    if len(names) > MAX_RESOURCES:
        raise fail(f"problem: at most {MAX_RESOURCES} resources, got {len(names)}")
    seen: set[object] = set()
    for r, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise fail(f"resource {r}: name must be a non-empty string, got {name!r}")
        if name in seen:
            raise fail(f"resource {r}: name {name!r} repeats")
        seen.add(name)
    width = len(names)
    vector(p.load_weight, width, "load_weight", "resource", "load_weight", 0, MAX_WEIGHT, True)
    bools(p.transient, width, "transient", "resource")
    _resource_value(p, width)
    if not int_ok(p.gpu_resource, -1, width - 1):
        raise fail(
            f"problem: gpu_resource must be -1 or a resource index below {width}, "
            f"got {p.gpu_resource!r}"
        )
    check_int(p.service_move_weight, "problem: service_move_weight", 0, MAX_WEIGHT)


def _resource_value(p: Problem, width: int) -> None:
    """Optional [R] values of the work term: non-negative ints, at least one positive, summing
    to at most MAX_RESOURCE_VALUE (so a job's size stays below SIZE_SCALE * MAX_RESOURCES, the
    bound the total-work limit assumes)."""
    values = p.resource_value
    vector(
        values, width, "resource_value", "resource", "resource_value", 0, MAX_RESOURCE_VALUE, True
    )
    if not values:
        return
    if not any(values):
        raise fail("problem: resource_value must give at least one resource a positive value")
    total = sum(values)
    if total > MAX_RESOURCE_VALUE:
        raise fail(
            f"problem: resource_value sums to {total}, at most {MAX_RESOURCE_VALUE} (the values "
            "share the budget of one per resource that keeps the total work inside its bound)"
        )


def check_nodes(p: Problem) -> None:
    width = p.num_resources
    label = resource_label(p)
    groups = as_tuple(p.group_cost, "group_cost")
    if not groups:
        raise fail("problem: group_cost must list at least one group")
    matrix(p.group_cost, len(groups), width, "group_cost", "group", label, 0, MAX_PRICE)
    n = as_tuple(p.node_capacity, "node_capacity")
    count = len(n)
    matrix(p.node_capacity, count, width, "node_capacity", "node", label, 0, MAX_QUANTITY)
    indices(p.node_group, count, "node_group", "node", "group", len(groups))
    matrix(p.node_reserved, count, width, "node_reserved", "node", label, 0, MAX_QUANTITY, True)
    if p.node_reserved:
        for node, (used, cap) in enumerate(zip(p.node_reserved, p.node_capacity, strict=True)):
            for r, (u, c) in enumerate(zip(used, cap, strict=True)):
                if u > c:
                    name = label(r)
                    raise fail(
                        f"node {node}: reserved[{name}] = {u} exceeds capacity[{name}] = {c}"
                    )
    vector(p.node_type, count, "node_type", "node", "type", 0, MAX_INDEX, True)
    vector(p.node_open_cost, count, "node_open_cost", "node", "open_cost", 0, MAX_COST, True)
    matrix(p.node_safety, count, width, "node_safety", "node", label, 0, MAX_QUANTITY, True)
    keys = as_tuple(p.domain_keys, "domain_keys")
    for k, key in enumerate(keys):
        if not isinstance(key, str) or not key:
            raise fail(f"domain key {k}: name must be a non-empty string, got {key!r}")
    if len(set(keys)) != len(keys):
        raise fail(f"problem: domain_keys repeat a name: {keys!r}")
    if p.node_domains and not keys:
        raise fail("problem: node_domains needs domain_keys (one name per topology key)")
    if keys:
        matrix(
            p.node_domains,
            count,
            len(keys),
            "node_domains",
            "node",
            lambda k: str(keys[k]),
            0,
            MAX_INDEX,
        )
    _node_move_cost(p, count)


def _node_move_cost(p: Problem, count: int) -> None:
    matrix = p.node_move_cost
    if not isinstance(matrix, Sequence) or isinstance(matrix, str):
        raise fail("problem: node_move_cost must be a sequence of rows")
    if not matrix:
        return
    if len(matrix) != count:
        raise fail(
            f"problem: node_move_cost has {len(matrix)} rows, expected {count} (one per node)"
        )
    # N x N can be 25 million entries (ROADEF B): C-level passes per row, no flattened copy.
    for a, row in enumerate(matrix):
        if not isinstance(row, Sequence) or len(row) != count:
            raise fail(f"node {a}: move_cost row must have {count} entries")
        if not ints_ok(row, 0, MAX_COST):
            for b, value in enumerate(row):
                check_int(value, f"node {a}: move_cost[{b}]", 0, MAX_COST)
        if row[a] != 0:
            raise fail(f"node {a}: move_cost[{a}] must be 0 (staying is not a move), got {row[a]}")


def check_node_sets(p: Problem) -> None:
    sets = as_tuple(p.node_sets, "node_sets")
    count = p.num_nodes
    for i, nodes in enumerate(sets):
        if not isinstance(nodes, tuple):
            raise fail(f"node set {i}: must be a tuple, got {type(nodes).__name__}")
        if not nodes:
            continue
        if not set(map(type, nodes)) <= INTS:
            bad = next(x for x in nodes if type(x) is not int)
            raise fail(f"node set {i}: entries must be node indices, got {bad!r}")
        if nodes != tuple(sorted(set(nodes))):
            raise fail(f"node set {i}: nodes must be ascending without repeats")
        if nodes[0] < 0 or nodes[-1] >= count:
            bad = nodes[0] if nodes[0] < 0 else nodes[-1]
            raise fail(f"node set {i}: node {bad} does not exist ({count} nodes)")
    if len(set(sets)) != len(sets):
        first: dict[object, int] = {}
        for i, nodes in enumerate(sets):
            if nodes in first:
                raise fail(f"node set {i}: repeats node set {first[nodes]} (sets are distinct)")
            first[nodes] = i


def check_devices(p: Problem) -> None:
    count = p.num_nodes
    vector(p.node_devices, count, "node_devices", "node", "devices", 0, MAX_DEVICES, True)
    gpu = p.gpu_resource
    if not p.node_devices or not any(p.node_devices):
        if gpu >= 0:
            _gpu_demands(p, gpu)
        return
    if gpu < 0:
        node = next(n for n, d in enumerate(p.node_devices) if d)
        raise fail(f"node {node}: has GPU devices but gpu_resource is -1")
    name = p.resources[gpu]
    for n, devices in enumerate(p.node_devices):
        if not devices:
            continue
        cap = p.node_capacity[n][gpu]
        if cap != SHARES_PER_DEVICE * devices:
            raise fail(
                f"node {n}: capacity[{name}] must equal {SHARES_PER_DEVICE} * devices "
                f"({devices} devices, capacity {cap})"
            )
        if p.node_reserved and p.node_reserved[n][gpu]:
            raise fail(
                f"node {n}: reserved[{name}] must be 0 on a node with devices (reserved usage "
                "has no device ids; leave held devices out of node_devices)"
            )
    _gpu_demands(p, gpu)


def _gpu_demands(p: Problem, gpu: int) -> None:
    name = p.resources[gpu]
    for j, row in enumerate(p.job_demand):
        if not gpu_share_ok(row[gpu]):
            raise fail(
                f"job {j}: demand[{name}] = {row[gpu]} must be 0, 1..999 (a share of one "
                "device) or a multiple of 1000 (whole devices)"
            )
