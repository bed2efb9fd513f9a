"""Validation of an engine-v2 `Problem` (model.py) at construction.

Every message names the offending index ("job 3: replicas must be >= 1, got 0") so a builder bug
is found from the message alone. The checks run in time linear in the size of the input: each
field is first tested as a whole by C-level passes (`set(map(type, ...))`, `min`, `max`), and only
when such a pass fails is the field walked element by element to name the first culprit. A
100,000-job x 5,000-node problem validates in well under a second this way.

Besides the contract of model.py this module fixes three rules the engines may rely on:
- on a node with GPU devices, `node_reserved[n][gpu_resource]` must be 0: reserved usage has no
  device ids, so the builder leaves devices held by fixed work out of `node_devices` (and the
  capacity) or describes that work as a running job;
- `node_move_cost` has a zero diagonal (a replica that stays does not move);
- `node_reserved` never exceeds the capacity (else no solution at all would be feasible).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain, pairwise
from typing import TYPE_CHECKING, Any

from scheduler.placement.model.problem import Balance, Override, Quota, Service

if TYPE_CHECKING:
    from scheduler.placement.model.problem import Problem

# Generous bounds that still catch unit mistakes (bytes where MiB were meant) and keep every
# product the evaluator forms small enough for its int64 scaling (evaluator.py).
MAX_QUANTITY = 1 << 40  # demands, capacities, safety levels, reserved usage
MAX_PRICE = 1 << 30  # group_cost per unit of resource
MAX_COST = 1 << 40  # move, preemption, opening and override costs
MAX_WEIGHT = 1 << 30  # load weights, balance targets and weights, service move weight
MAX_REPLICAS = 1 << 14
MAX_PRIORITY = 1000
MAX_RESOURCES = 64
MAX_DEVICES = 1 << 10
# resource_value: the values sum to at most this, as MAX_RESOURCES values of 1 would (the
# default), so a job's size, and with it the total work, keeps the bound below.
MAX_RESOURCE_VALUE = MAX_RESOURCES
# Total replicas in one problem; with the bounds above it keeps the total work below 2^52, which
# leaves the automatic work weight of the evaluator at least 2^10 inside int64.
MAX_TOTAL_REPLICAS = 1 << 26
MAX_INDEX = (1 << 31) - 1  # department ids, node types, domain ids
MAX_ORDER = 1 << 62
SHARES_PER_DEVICE = 1000

_INT = frozenset({int})
_BOOL = frozenset({bool})
_TUPLE = frozenset({tuple})


class InvalidProblem(ValueError):
    """The problem data is inconsistent; the message names the offending index."""


def validate(p: Problem) -> None:
    """Raises InvalidProblem naming the first offending index; returns None if `p` is valid."""
    _resources(p)
    _nodes(p)
    _node_sets(p)
    _jobs(p)
    _devices(p)  # after _jobs: reads the (validated) GPU column of the demands
    _running(p)
    _overrides(p)
    _quotas(p)
    _services(p)
    _balances(p)
    _names(p)


# -- generic checks ------------------------------------------------------------------------------


def _fail(message: str) -> InvalidProblem:
    return InvalidProblem(message)


def _int_ok(value: object, low: int, high: int) -> bool:
    # bool is an int subclass; True as a quantity is always a builder bug.
    return type(value) is int and low <= value <= high


def _bad_int(value: object, where: str, low: int, high: int) -> InvalidProblem:
    if type(value) is not int:
        return _fail(f"{where} must be an integer, got {value!r}")
    assert isinstance(value, int)
    if value < low:
        return _fail(f"{where} must be >= {low}, got {value}")
    return _fail(f"{where} must be <= {high}, got {value}")


def _check_int(value: object, where: str, low: int, high: int) -> None:
    if not _int_ok(value, low, high):
        raise _bad_int(value, where, low, high)


def _tuple(value: object, field: str) -> tuple[object, ...]:
    if not isinstance(value, tuple):
        raise _fail(f"problem: {field} must be a tuple, got {type(value).__name__}")
    return value


def _length(values: object, count: int, field: str, unit: str, optional: bool) -> bool:
    """Checks that `values` is a tuple of `count` entries; False if optional and empty."""
    seq = _tuple(values, field)
    if optional and not seq:
        return False
    if len(seq) != count:
        extra = " or 0" if optional else ""
        raise _fail(
            f"problem: {field} has {len(seq)} entries, expected {count}{extra} (one per {unit})"
        )
    return True


def _ints_ok(values: Sequence[Any], low: int, high: int) -> bool:
    """True when every entry is an int in [low, high]; C-level passes only."""
    if not values:
        return True
    if not set(map(type, values)) <= _INT:
        return False
    return bool(low <= min(values) and max(values) <= high)


def _vector(
    values: object,
    count: int,
    field: str,
    unit: str,
    what: str,
    low: int,
    high: int,
    optional: bool = False,
) -> None:
    """A [count] vector of ints in [low, high]; messages say '<unit> i: <what> ...'."""
    if not _length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if _ints_ok(values, low, high):
        return
    for i, value in enumerate(values):
        _check_int(value, f"{unit} {i}: {what}", low, high)


def _indices(
    values: object, count: int, field: str, unit: str, what: str, limit: int, optional: bool = False
) -> None:
    """A [count] vector of indices into something with `limit` entries ('node set', 'group')."""
    if not _length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if _ints_ok(values, 0, limit - 1):
        return
    for i, value in enumerate(values):
        _check_index(value, f"{unit} {i}", what, limit)


def _check_index(value: object, where: str, what: str, limit: int) -> None:
    if type(value) is not int:
        raise _fail(f"{where}: {what} must be an integer, got {value!r}")
    assert isinstance(value, int)
    if not 0 <= value < limit:
        plural = what if what.endswith("s") else f"{what}s"
        raise _fail(f"{where}: {what} {value} does not exist ({limit} {plural})")


def _bools(values: object, count: int, field: str, unit: str, optional: bool = True) -> None:
    if not _length(values, count, field, unit, optional):
        return
    assert isinstance(values, tuple)
    if set(map(type, values)) <= _BOOL:
        return
    for i, value in enumerate(values):
        if type(value) is not bool:
            raise _fail(f"{unit} {i}: {field} must be a bool, got {value!r}")


def _matrix(
    rows: object,
    count: int,
    width: int,
    field: str,
    unit: str,
    column: Callable[[int], str],
    low: int,
    high: int,
    optional: bool = False,
) -> None:
    """A [count][width] matrix of ints in [low, high]; messages say 'node 7: capacity[gpu] ...'."""
    if not _length(rows, count, field, unit, optional):
        return
    assert isinstance(rows, tuple)
    if set(map(type, rows)) <= _TUPLE and set(map(len, rows)) <= {width}:
        flat = list(chain.from_iterable(rows))
        if _ints_ok(flat, low, high):
            return
    for i, row in enumerate(rows):
        _check_row(row, width, f"{unit} {i}", _field_name(field), column, low, high)


def _field_name(field: str) -> str:
    """'node_capacity' -> 'capacity': messages already say which node or job."""
    for prefix in ("node_", "job_", "group_"):
        if field.startswith(prefix):
            return field[len(prefix) :]
    return field


def _check_row(
    row: object,
    width: int,
    where: str,
    what: str,
    column: Callable[[int], str],
    low: int,
    high: int,
) -> None:
    if not isinstance(row, tuple):
        raise _fail(f"{where}: {what} must be a tuple, got {type(row).__name__}")
    if len(row) != width:
        raise _fail(f"{where}: {what} has {len(row)} entries, expected {width}")
    for r, value in enumerate(row):
        _check_int(value, f"{where}: {what}[{column(r)}]", low, high)


# -- field families -------------------------------------------------------------------------------


def _resource_label(p: Problem) -> Callable[[int], str]:
    names = p.resources
    return lambda r: names[r]


def _resources(p: Problem) -> None:
    names = _tuple(p.resources, "resources")
    if not names:
        raise _fail("problem: resources must name at least one resource")
    if len(names) > MAX_RESOURCES:
        raise _fail(f"problem: at most {MAX_RESOURCES} resources, got {len(names)}")
    seen: set[object] = set()
    for r, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise _fail(f"resource {r}: name must be a non-empty string, got {name!r}")
        if name in seen:
            raise _fail(f"resource {r}: name {name!r} repeats")
        seen.add(name)
    width = len(names)
    _vector(p.load_weight, width, "load_weight", "resource", "load_weight", 0, MAX_WEIGHT, True)
    _bools(p.transient, width, "transient", "resource")
    _resource_value(p, width)
    if not _int_ok(p.gpu_resource, -1, width - 1):
        raise _fail(
            f"problem: gpu_resource must be -1 or a resource index below {width}, "
            f"got {p.gpu_resource!r}"
        )
    _check_int(p.service_move_weight, "problem: service_move_weight", 0, MAX_WEIGHT)


def _resource_value(p: Problem, width: int) -> None:
    """Optional [R] values of the work term: non-negative ints, at least one positive, summing
    to at most MAX_RESOURCE_VALUE (so a job's size stays below SIZE_SCALE * MAX_RESOURCES, the
    bound the total-work limit assumes)."""
    values = p.resource_value
    _vector(
        values, width, "resource_value", "resource", "resource_value", 0, MAX_RESOURCE_VALUE, True
    )
    if not values:
        return
    if not any(values):
        raise _fail("problem: resource_value must give at least one resource a positive value")
    total = sum(values)
    if total > MAX_RESOURCE_VALUE:
        raise _fail(
            f"problem: resource_value sums to {total}, at most {MAX_RESOURCE_VALUE} (the values "
            "share the budget of one per resource that keeps the total work inside its bound)"
        )


def _nodes(p: Problem) -> None:
    width = p.num_resources
    label = _resource_label(p)
    groups = _tuple(p.group_cost, "group_cost")
    if not groups:
        raise _fail("problem: group_cost must list at least one group")
    _matrix(p.group_cost, len(groups), width, "group_cost", "group", label, 0, MAX_PRICE)
    n = _tuple(p.node_capacity, "node_capacity")
    count = len(n)
    _matrix(p.node_capacity, count, width, "node_capacity", "node", label, 0, MAX_QUANTITY)
    _indices(p.node_group, count, "node_group", "node", "group", len(groups))
    _matrix(p.node_reserved, count, width, "node_reserved", "node", label, 0, MAX_QUANTITY, True)
    if p.node_reserved:
        for node, (used, cap) in enumerate(zip(p.node_reserved, p.node_capacity, strict=True)):
            for r, (u, c) in enumerate(zip(used, cap, strict=True)):
                if u > c:
                    name = label(r)
                    raise _fail(
                        f"node {node}: reserved[{name}] = {u} exceeds capacity[{name}] = {c}"
                    )
    _vector(p.node_type, count, "node_type", "node", "type", 0, MAX_INDEX, True)
    _vector(p.node_open_cost, count, "node_open_cost", "node", "open_cost", 0, MAX_COST, True)
    _matrix(p.node_safety, count, width, "node_safety", "node", label, 0, MAX_QUANTITY, True)
    keys = _tuple(p.domain_keys, "domain_keys")
    for k, key in enumerate(keys):
        if not isinstance(key, str) or not key:
            raise _fail(f"domain key {k}: name must be a non-empty string, got {key!r}")
    if len(set(keys)) != len(keys):
        raise _fail(f"problem: domain_keys repeat a name: {keys!r}")
    if p.node_domains and not keys:
        raise _fail("problem: node_domains needs domain_keys (one name per topology key)")
    if keys:
        _matrix(
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
        raise _fail("problem: node_move_cost must be a sequence of rows")
    if not matrix:
        return
    if len(matrix) != count:
        raise _fail(
            f"problem: node_move_cost has {len(matrix)} rows, expected {count} (one per node)"
        )
    # N x N can be 25 million entries (ROADEF B): C-level passes per row, no flattened copy.
    for a, row in enumerate(matrix):
        if not isinstance(row, Sequence) or len(row) != count:
            raise _fail(f"node {a}: move_cost row must have {count} entries")
        if not _ints_ok(row, 0, MAX_COST):
            for b, value in enumerate(row):
                _check_int(value, f"node {a}: move_cost[{b}]", 0, MAX_COST)
        if row[a] != 0:
            raise _fail(f"node {a}: move_cost[{a}] must be 0 (staying is not a move), got {row[a]}")


def _node_sets(p: Problem) -> None:
    sets = _tuple(p.node_sets, "node_sets")
    count = p.num_nodes
    for i, nodes in enumerate(sets):
        if not isinstance(nodes, tuple):
            raise _fail(f"node set {i}: must be a tuple, got {type(nodes).__name__}")
        if not nodes:
            continue
        if not set(map(type, nodes)) <= _INT:
            bad = next(x for x in nodes if type(x) is not int)
            raise _fail(f"node set {i}: entries must be node indices, got {bad!r}")
        if nodes != tuple(sorted(set(nodes))):
            raise _fail(f"node set {i}: nodes must be ascending without repeats")
        if nodes[0] < 0 or nodes[-1] >= count:
            bad = nodes[0] if nodes[0] < 0 else nodes[-1]
            raise _fail(f"node set {i}: node {bad} does not exist ({count} nodes)")
    if len(set(sets)) != len(sets):
        first: dict[object, int] = {}
        for i, nodes in enumerate(sets):
            if nodes in first:
                raise _fail(f"node set {i}: repeats node set {first[nodes]} (sets are distinct)")
            first[nodes] = i


def _devices(p: Problem) -> None:
    count = p.num_nodes
    _vector(p.node_devices, count, "node_devices", "node", "devices", 0, MAX_DEVICES, True)
    gpu = p.gpu_resource
    if not p.node_devices or not any(p.node_devices):
        if gpu >= 0:
            _gpu_demands(p, gpu)
        return
    if gpu < 0:
        node = next(n for n, d in enumerate(p.node_devices) if d)
        raise _fail(f"node {node}: has GPU devices but gpu_resource is -1")
    name = p.resources[gpu]
    for n, devices in enumerate(p.node_devices):
        if not devices:
            continue
        cap = p.node_capacity[n][gpu]
        if cap != SHARES_PER_DEVICE * devices:
            raise _fail(
                f"node {n}: capacity[{name}] must equal {SHARES_PER_DEVICE} * devices "
                f"({devices} devices, capacity {cap})"
            )
        if p.node_reserved and p.node_reserved[n][gpu]:
            raise _fail(
                f"node {n}: reserved[{name}] must be 0 on a node with devices (reserved usage "
                "has no device ids; leave held devices out of node_devices)"
            )
    _gpu_demands(p, gpu)


def _gpu_share_ok(q: int) -> bool:
    return q < SHARES_PER_DEVICE or q % SHARES_PER_DEVICE == 0


def _gpu_demands(p: Problem, gpu: int) -> None:
    name = p.resources[gpu]
    for j, row in enumerate(p.job_demand):
        if not _gpu_share_ok(row[gpu]):
            raise _fail(
                f"job {j}: demand[{name}] = {row[gpu]} must be 0, 1..999 (a share of one "
                "device) or a multiple of 1000 (whole devices)"
            )


def _jobs(p: Problem) -> None:
    width = p.num_resources
    count = len(_tuple(p.job_demand, "job_demand"))
    label = _resource_label(p)
    _matrix(p.job_demand, count, width, "job_demand", "job", label, 0, MAX_QUANTITY)
    _vector(p.job_replicas, count, "job_replicas", "job", "replicas", 1, MAX_REPLICAS)
    if sum(p.job_replicas) > MAX_TOTAL_REPLICAS:
        raise _fail(
            f"problem: {sum(p.job_replicas)} replicas in total exceed {MAX_TOTAL_REPLICAS}; "
            "split the cycle"
        )
    _vector(p.job_priority, count, "job_priority", "job", "priority", 0, MAX_PRIORITY)
    _vector(p.job_order, count, "job_order", "job", "order", -MAX_ORDER, MAX_ORDER)
    if len(set(p.job_order)) != count:
        owner: dict[int, int] = {}
        for j, order in enumerate(p.job_order):
            if order in owner:
                raise _fail(
                    f"job {j}: order {order} repeats job {owner[order]}'s (ranks are unique)"
                )
            owner[order] = j
    _indices(p.job_nodes, count, "job_nodes", "job", "node set", len(p.node_sets))
    _bools(p.job_required, count, "job_required", "job")
    _vector(p.job_move_cost, count, "job_move_cost", "job", "move_cost", -1, MAX_COST, True)
    _vector(
        p.job_preempt_cost, count, "job_preempt_cost", "job", "preempt_cost", -1, MAX_COST, True
    )
    _vector(p.job_department, count, "job_department", "job", "department", -1, MAX_INDEX, True)
    _bools(p.job_may_preempt, count, "job_may_preempt", "job")
    _bools(p.job_may_reclaim, count, "job_may_reclaim", "job")
    _vector(p.job_preempt_rank, count, "job_preempt_rank", "job", "rank", 0, MAX_PRIORITY, True)
    _check_int(p.max_evictions, "problem: max_evictions", -1, MAX_TOTAL_REPLICAS)


def _running(p: Problem) -> None:
    count = p.num_jobs
    if not _length(p.job_current, count, "job_current", "job", True):
        return
    nodes = p.num_nodes
    for j, current in enumerate(p.job_current):
        if current is None:
            continue
        if not isinstance(current, tuple):
            raise _fail(f"job {j}: current must be None or a tuple of nodes, got {current!r}")
        if len(current) != p.job_replicas[j]:
            raise _fail(
                f"job {j}: current lists {len(current)} nodes, expected {p.job_replicas[j]} "
                "(one per replica)"
            )
        if not _ints_ok(current, 0, nodes - 1):
            for i, node in enumerate(current):
                _check_index(node, f"job {j}: current replica {i}", "node", nodes)


def _overrides(p: Problem) -> None:
    overrides = _tuple(p.overrides, "overrides")
    if not overrides:
        return
    width = p.num_resources
    label = _resource_label(p)
    gpu = p.gpu_resource
    seen: dict[tuple[int, int], int] = {}
    for i, o in enumerate(overrides):
        where = f"override {i}"
        if not isinstance(o, Override):
            raise _fail(f"{where}: must be an Override, got {type(o).__name__}")
        _check_index(o.job, where, "job", p.num_jobs)
        # A type without nodes in this cycle is fine: the builder knows its hardware kinds.
        _check_int(o.node_type, f"{where}: node_type", 0, MAX_INDEX)
        key = (o.job, o.node_type)
        if key in seen:
            raise _fail(
                f"{where}: repeats override {seen[key]} for job {o.job}, type {o.node_type}"
            )
        seen[key] = i
        if o.demand is not None:
            _check_row(o.demand, width, where, "demand", label, 0, MAX_QUANTITY)
            if gpu >= 0 and not _gpu_share_ok(o.demand[gpu]):
                raise _fail(
                    f"{where}: demand[{label(gpu)}] = {o.demand[gpu]} must be 0, 1..999 or a "
                    "multiple of 1000"
                )
        if o.cost is not None:
            _check_int(o.cost, f"{where}: cost", 0, MAX_COST)


def _quotas(p: Problem) -> None:
    # Several quotas may bound one department and resource (a parent's, a cluster group's);
    # only one with the very same scope would be a builder bug (which limit was meant?).
    seen: dict[tuple[object, ...], int] = {}
    for i, q in enumerate(_tuple(p.quotas, "quotas")):
        where = f"quota {i}"
        if not isinstance(q, Quota):
            raise _fail(f"{where}: must be a Quota, got {type(q).__name__}")
        _check_int(q.department, f"{where}: department", 0, MAX_INDEX)
        _check_index(q.resource, where, "resource", p.num_resources)
        _check_int(q.nominal, f"{where}: nominal", 0, MAX_QUANTITY * MAX_TOTAL_REPLICAS)
        _check_int(q.borrow_limit, f"{where}: borrow_limit", 0, MAX_QUANTITY * MAX_TOTAL_REPLICAS)
        _scope_list(q.groups, f"{where}: groups", "group", p.num_groups)
        _scope_list(q.members, f"{where}: members", "department", MAX_INDEX + 1)
        key = (q.department, q.resource, q.groups, q.members)
        if key in seen:
            raise _fail(
                f"{where}: repeats quota {seen[key]} for department {q.department}, "
                f"resource {p.resources[q.resource]} with the same groups and members"
            )
        seen[key] = i


def _scope_list(values: object, where: str, what: str, limit: int) -> None:
    """An ascending tuple of distinct indices below `limit` (a quota's groups or members)."""
    if not isinstance(values, tuple):
        raise _fail(f"{where} must be a tuple of {what} indices, got {type(values).__name__}")
    if not _ints_ok(values, 0, limit - 1):
        for value in values:
            if not _int_ok(value, 0, limit - 1):
                shown = repr(value)[:20]
                raise _fail(f"{where}: {what} {shown} does not exist ({limit} {what}s)")
    for a, b in pairwise(values):
        if a >= b:
            raise _fail(f"{where} must be ascending without repeats, got {a} before {b}")


def _services(p: Problem) -> None:
    services = _tuple(p.services, "services")
    keys = len(p.domain_keys) if p.domain_keys else 0
    for s, svc in enumerate(services):
        where = f"service {s}"
        if not isinstance(svc, Service):
            raise _fail(f"{where}: must be a Service, got {type(svc).__name__}")
        members = svc.jobs
        if not isinstance(members, tuple):
            raise _fail(f"{where}: jobs must be a tuple")
        if not _ints_ok(members, 0, p.num_jobs - 1):
            for job in members:
                if not _int_ok(job, 0, p.num_jobs - 1):
                    raise _fail(f"{where}: member job {job!r} does not exist ({p.num_jobs} jobs)")
        if len(set(members)) != len(members):
            raise _fail(f"{where}: a member job is listed twice")
        if type(svc.anti_affinity) is not bool:
            raise _fail(f"{where}: anti_affinity must be a bool")
        if not _int_ok(svc.spread_key, -1, keys - 1):
            raise _fail(f"{where}: spread_key {svc.spread_key!r} does not exist ({keys} keys)")
        _check_int(svc.spread_min, f"{where}: spread_min", 0, MAX_TOTAL_REPLICAS)
        if svc.spread_key < 0 and svc.spread_min:
            raise _fail(f"{where}: spread_min {svc.spread_min} needs a spread_key")
        deps = svc.depends_on
        if not isinstance(deps, tuple):
            raise _fail(f"{where}: depends_on must be a tuple of service indices")
        for t in deps:
            _check_index(t, where, "depends_on service", len(services))
            if t == s:
                raise _fail(f"{where}: depends on itself")
        if len(set(deps)) != len(deps):
            raise _fail(f"{where}: depends_on lists a service twice")
        if not _int_ok(svc.affinity_key, -1, keys - 1):
            raise _fail(f"{where}: affinity_key {svc.affinity_key!r} does not exist ({keys} keys)")
        if deps and svc.affinity_key < 0:
            raise _fail(f"{where}: depends_on needs an affinity_key")


def _balances(p: Problem) -> None:
    for b, bal in enumerate(_tuple(p.balances, "balances")):
        where = f"balance {b}"
        if not isinstance(bal, Balance):
            raise _fail(f"{where}: must be a Balance, got {type(bal).__name__}")
        _check_index(bal.r1, where, "resource", p.num_resources)
        _check_index(bal.r2, where, "resource", p.num_resources)
        _check_int(bal.target, f"{where}: target", 0, MAX_WEIGHT)
        _check_int(bal.weight, f"{where}: weight", 0, MAX_WEIGHT)


def _names(p: Problem) -> None:
    for field, count in (
        ("node_names", p.num_nodes),
        ("group_names", p.num_groups),
        ("job_names", p.num_jobs),
    ):
        names = getattr(p, field)
        if not _length(names, count, field, field.split("_")[0], True):
            continue
        for i, name in enumerate(names):
            if not isinstance(name, str):
                raise _fail(f"problem: {field}[{i}] must be a string, got {name!r}")
    for i, item in enumerate(_tuple(p.meta, "meta")):
        if not (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
        ):
            raise _fail(f"problem: meta[{i}] must be a (str, str) pair, got {item!r}")
