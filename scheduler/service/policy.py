"""The pool's policy for one cycle: quotas, effective priorities and fair share, computed from
the snapshot (pure functions; the builder and the cycle apply them).

Quotas. For every department with quota rows, every cluster group (selector) and resource,
one scoped quota: its members are the department's subtree (a parent's quota binds the sum
of its children), its clusters those the selector picks, its nominal the row's, and

    borrow_limit = min(borrowing_limit (None: unlimited), borrowable now)
    borrowable   = max(0, sum over lenders o of min(lendable_o, nominal_o - used_o)
                          + unguaranteed - used by departments without a quota there)

as Kueue's cohort accounting: `lendable_o` is o's lending_limit (None: its nominal), and
o's own use first takes its nominal, so o lends at most its idle nominal, and a lender that
borrows itself (used above nominal) subtracts what it takes from the pool. The lenders are
the outermost departments with a row for the same selector and resource that are neither
ancestors nor descendants of the borrower (a subtree is counted once, by its top). The
capacity of the group's clusters that no outermost holder's nominal covers
(`unguaranteed`) is lendable too: fair share divides it. Selectors match exactly, as the
hierarchy check compares them. Usage is what runs at the snapshot, so the numbers are
recomputed every cycle; two borrowers can take the same lendable share within one cycle
(limits are per department), and a lender that then needs it reclaims it by preemption. A
department without any quota row has no limit: the city decides by creating quotas. Nor can
what it runs be reclaimed (the engine reclaims only use above some quota's nominal): a row
with nominal 0 makes a department a borrower whose use is reclaimable. The engine's limit is
never below what already runs in the scope (model_quotas) until a lowered quota's reclaim
delay has passed (scheduler.service.reclaim).

Effective priority, in the engine's 0..1000 (its work term is (priority + 1) x size,
lexicographically above every cost), for every queued and running job:

    within guarantee  600 + round(0.4 x value)                      600..1000
    borrowing         round(0.1 x value) + round(24 x F)              0..124

`value` is the value of the job's priority class (JobSpec.priority_class, read from the
snapshot's classes), or the bare spec.priority of a job without a class. Jobs are grouped by
their quota holder, the nearest department on their path with quota rows (a division without
rows of its own ranks within its bureau's; one with rows is its own holder, so a bureau's own
jobs rank against the bureau's nominal apart from such divisions: an approximation, the
engine's subtree quota still bounds the sum). A holder's jobs are ranked by value desc, running
before queued, then age (scheduler.service.guarantee), and taken in that order against the
nominal of one home group per resource: the first of the holder's groups (GetDepartment's
order) whose clusters include one the job may use and whose nominal of that resource is
positive. A job that fits what is left is within guarantee, the rest borrows, and the jobs
behind one that does not fit may still (best-effort FIFO, as Kueue's queues); a department
without a holder borrows. So any guaranteed job outranks any borrowing one: a department below
its nominal reclaims from a borrower whatever their classes and shares, and the narrow
borrowing band makes that hold by size too: the work term weighs a guaranteed job above a
borrower up to 4.8 times its size ((600 + 1) / (124 + 1); a 1-GPU job of the owner over an
8-GPU borrower of its class: 801 against 8 x 75). With a band of 0..500 an owner's small job
waited hours behind a large borrower (benchmarks/README.md, "Ten seeds": over ten traces the
guarantee kept rose from 99.35% to 99.51%). Among borrowers a class 250 points higher
outweighs the whole fair-share bonus (25 > 24), so classes decide between very different work
and fair share between comparable work. The engine's priority rule within a
department compares class values (Problem.job_preempt_rank), not these numbers: a job never
evicts work of its own department and class, whichever of the two the guarantee covers. And only
guaranteed work may take lent capacity back (Problem.job_may_reclaim): borrowers never evict
one another, whatever their shares.

Fair share (Slurm's classic factor): F = 2^(-usage_share / weight_share). weight_share is
the department's weight over its siblings' times its parent's share (top level: over the
top level); usage_share its subtree's decayed usage over everyone's (0 while nobody has
usage, so F = 1). Usage is normalised per resource: a replica holding `q` of resource r
for t seconds adds value_r x q / capacity_r x t, with value_r the cycle's gpu_value_weight
for nvidia.com/gpu and 1 for the rest, and capacity_r the pool's; so usage is weighted
pool-seconds, comparable between GPU and CPU work. It decays exponentially with the half
life `fair_share_half_life_s`: the cycle advances a stored accumulator per department,
    U(now) = U(t) x 2^(-dt/h) + rate x h/ln 2 x (1 - 2^(-dt/h)),
exact for the usage rate seen at the snapshot held over dt, and charges at most
fair_share.MAX_ACCRUAL_S (60 s) of a gap (a scheduler that was down did not see what ran).
The cost is one row per department per cycle, whatever the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduler.domain.models import Job
from scheduler.domain.quotas import (
    ResourceQuota,
    cluster_group_labels,
    in_subtree,
    parent_of,
    selector_key,
    selects,
)
from scheduler.placement import Quota
from scheduler.service.fair_share import decayed_usage, fair_share_factors
from scheduler.service.guarantee import class_value, guaranteed
from scheduler.service.snapshot import Snapshot

GUARANTEE_BASE = 600
CLASS_SCALE = 0.4  # within guarantee
BORROW_CLASS_SCALE = 0.1  # borrowing: the band 0..124 (module docstring)
FAIR_SHARE_BONUS = 24


@dataclass(frozen=True)
class ScopedQuota:
    """One resource's quota of one department in one cluster group, as the cycle applies it."""

    department: str
    selector: Mapping[str, str]
    resource: str
    clusters: frozenset[str]  # registered clusters the selector picks
    members: tuple[str, ...]  # the department's subtree, by name
    nominal: int
    borrowing_limit: int | None
    lending_limit: int | None
    borrowable: int  # what others may lend now (module docstring)
    used: int  # the members' use on the clusters at the snapshot
    changed_at: datetime | None = None  # when the row's triple last changed (reclaim delay)

    @property
    def borrow_limit(self) -> int:
        limit = self.borrowable
        return limit if self.borrowing_limit is None else min(self.borrowing_limit, limit)

    @property
    def key(self) -> tuple[str, str, str]:
        """(department, selector key, resource), as its row is keyed."""
        return (self.department, selector_key(self.selector), self.resource)

    def covers(self, job: Job) -> bool:
        return job.department in self.members and job.spec.resources.get(self.resource, 0) > 0


@dataclass(frozen=True)
class Policy:
    priority: Mapping[str, int]  # job_id -> effective priority, queued and running jobs
    within: frozenset[str]  # job ids within their holder's guarantee
    quotas: tuple[ScopedQuota, ...]
    factor: Mapping[str, float]  # department -> fair-share factor F
    usage: Mapping[str, float]  # department -> decayed usage as of the snapshot


def plan(snap: Snapshot, half_life_s: float, gpu_value_weight: int = 1) -> Policy:
    """The cycle's quotas, effective priorities and decayed usage for this snapshot."""
    labels = {
        c.name: cluster_group_labels(
            c.spec.labels, c.spec.xinchuang, c.spec.region, c.spec.security_level
        )
        for c in snap.clusters
    }
    running = [(job, nodes[0][0] if nodes else "") for job, nodes in snap.running]
    quotas = scoped_quotas(snap, labels, running)
    usage = decayed_usage(snap, half_life_s, gpu_value_weight)
    departments = snap.governance.departments
    factor = fair_share_factors(
        {n: d.fair_share_weight for n, d in departments.items()},
        {n: d.parent for n, d in departments.items()},
        usage,
    )
    within = guaranteed(snap, labels, running)
    priority = {}
    classes = snap.classes
    for job in (*snap.queued, *(j for j, _ in running)):
        priority[job.job_id] = effective_priority(
            class_value(job, classes), job.job_id in within, factor.get(job.department, 1.0)
        )
    return Policy(priority, frozenset(within), quotas, factor, usage)


def effective_priority(value: int, within: bool, factor: float) -> int:
    value = max(0, min(1000, value))
    if within:
        return GUARANTEE_BASE + round(CLASS_SCALE * value)
    return round(BORROW_CLASS_SCALE * value) + round(FAIR_SHARE_BONUS * max(0.0, min(1.0, factor)))


# -- quotas ----------------------------------------------------------------------------------


def _related(a: str, b: str) -> bool:
    return in_subtree(a, b) or in_subtree(b, a)


def _outermost(names: Iterable[str]) -> list[str]:
    """Those of `names` with no proper ancestor among them (walking each name's path up, not
    comparing every pair: the cycle asks this per department, group and resource)."""
    pool = set(names)
    return sorted(n for n in pool if not _has_ancestor_in(n, pool))


def _has_ancestor_in(name: str, pool: set[str]) -> bool:
    parent = parent_of(name)
    while parent:
        if parent in pool:
            return True
        parent = parent_of(parent)
    return False


def scoped_quotas(
    snap: Snapshot, labels: Mapping[str, Mapping[str, str]], running: Sequence[tuple[Job, str]]
) -> tuple[ScopedQuota, ...]:
    gov = snap.governance
    names = sorted(set(gov.departments) | {j.department for j, _ in running})
    # (selector key, resource) -> department -> its row
    rows: dict[tuple[str, str], dict[str, ResourceQuota]] = {}
    selectors: dict[str, Mapping[str, str]] = {}
    for dept, groups in gov.quotas.items():
        for g in groups:
            selectors[g.key] = g.selector
            for q in g.resources:
                rows.setdefault((g.key, q.resource), {})[dept] = q
    out = []
    for (key, resource), holders in sorted(rows.items()):
        clusters = frozenset(c for c, lab in labels.items() if selects(selectors[key], lab))
        use: dict[str, int] = {}
        for job, cluster in running:
            if cluster in clusters:
                need = job.spec.resources.get(resource, 0) * job.spec.replicas
                use[job.department] = use.get(job.department, 0) + need
        subtree_use = {h: sum(q for d, q in use.items() if in_subtree(d, h)) for h in holders}

        capacity = sum(
            n.capacity.get(resource, 0)
            for n in snap.nodes
            if n.cluster in clusters and snap.schedulable(n.cluster)
        )
        top = _outermost(holders)
        unguaranteed = max(0, capacity - sum(holders[d].nominal for d in top))
        unheld = sum(q for d, q in use.items() if not any(in_subtree(d, h) for h in top))
        for dept, row in sorted(holders.items()):
            lenders = _outermost(h for h in holders if not _related(h, dept))
            pool = unguaranteed - unheld
            for o in lenders:
                lender = holders[o]
                lendable = lender.nominal if lender.lending_limit is None else lender.lending_limit
                pool += min(lendable, lender.nominal - subtree_use[o])
            out.append(
                ScopedQuota(
                    department=dept,
                    selector=selectors[key],
                    resource=resource,
                    clusters=clusters,
                    members=tuple(n for n in names if in_subtree(n, dept)),
                    nominal=row.nominal,
                    borrowing_limit=row.borrowing_limit,
                    lending_limit=row.lending_limit,
                    borrowable=max(0, pool),
                    used=subtree_use[dept],
                    changed_at=row.changed_at,
                )
            )
    return tuple(out)


def model_quotas(
    quotas: Sequence[ScopedQuota],
    departments: Mapping[str, int],
    resources: Sequence[str],
    groups: Sequence[str],
    reclaim: Mapping[tuple[str, str, str], int] | None = None,
) -> tuple[Quota, ...]:
    """The engine's quotas: department and member indices from `departments`, the problem
    groups (cluster names, by index) the selector picks (the empty selector: every group).
    A quota whose resource or clusters are not in the problem binds nothing and is left out;
    of two selectors that pick the same groups, the tighter limit is kept. The limit is never
    below what already runs in the scope (a quota lowered under its use): fixed work above a
    limit leaves the engine no solution at all, and usage above nominal is what the engine's
    reclaim rule may evict anyway. `reclaim` (scheduler.service.reclaim): quota key -> the
    lower limit of a quota reclaimed after its delay, down to which the engine must evict."""
    resource_index = {r: i for i, r in enumerate(resources)}
    kept: dict[tuple[object, ...], Quota] = {}
    for q in quotas:
        picked = tuple(g for g, name in enumerate(groups) if name in q.clusters)
        if q.resource not in resource_index or not picked:
            continue
        members = tuple(sorted(departments[m] for m in q.members if m in departments))
        total = (reclaim or {}).get(q.key)
        nominal = q.nominal if total is None else min(q.nominal, total)
        quota = Quota(
            department=departments[q.department],
            resource=resource_index[q.resource],
            nominal=nominal,
            borrow_limit=max(q.borrow_limit, q.used - q.nominal)
            if total is None
            else total - nominal,
            groups=() if not q.selector else picked,
            members=() if members == (departments[q.department],) else members,
        )
        key = (quota.department, quota.resource, quota.groups, quota.members)
        old = kept.get(key)
        if old is None or (quota.nominal + quota.borrow_limit, quota.nominal) < (
            old.nominal + old.borrow_limit,
            old.nominal,
        ):
            kept[key] = quota
    return tuple(kept.values())


def quota_hold(
    job: Job, eligible: frozenset[str], quotas: Sequence[ScopedQuota], placed: Sequence[Job]
) -> str | None:
    """Why a quota holds `job` back after this cycle placed `placed`, with its numbers; None
    when none does. A quota holds a job back only when it covers every cluster the job may
    use (`eligible`; a group quota leaves the rest of the pool open)."""
    for q in quotas:
        if not q.covers(job) or not eligible or not eligible <= q.clusters:
            continue
        used = q.used + sum(
            p.spec.resources.get(q.resource, 0) * p.spec.replicas
            for p in placed
            if p.department in q.members and p.cluster in q.clusters
        )
        need = job.spec.resources[q.resource] * job.spec.replicas
        if used + need > q.nominal + q.borrow_limit:
            return (
                f"{q.resource} used {used} of nominal {q.nominal} + borrowing "
                f"{q.borrow_limit} in {group_name(q.selector)} (quota of {q.department}); "
                f"the job needs {need}"
            )
    return None


def group_name(selector: Mapping[str, str]) -> str:
    if not selector:
        return "the whole pool"
    return "cluster group " + ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def lent(quota: ScopedQuota, quotas: Sequence[ScopedQuota]) -> int:
    """`lent_now` of one scoped quota, against the others of its group and resource."""
    key = selector_key(quota.selector)
    peers = {
        q.department: q
        for q in quotas
        if q.resource == quota.resource
        and selector_key(q.selector) == key
        and not _related(q.department, quota.department)
    }
    return lent_now(
        ResourceQuota(quota.resource, quota.nominal, quota.borrowing_limit, quota.lending_limit),
        quota.used,
        {d: q.nominal for d, q in peers.items()},
        {d: q.used for d, q in peers.items()},
    )


def lent_now(
    quota: ResourceQuota, used: int, peer_nominal: Mapping[str, int], peer_used: Mapping[str, int]
) -> int:
    """What others borrow now that this quota's idle lendable nominal covers: the smaller of
    its idle lendable share and the borrowing of the outermost unrelated departments with a
    quota in the group (`peer_*`: their nominal and subtree use). An upper estimate: two
    lenders to one borrower each count its whole borrowing."""
    lendable = quota.nominal if quota.lending_limit is None else quota.lending_limit
    borrowed = sum(max(0, peer_used.get(d, 0) - peer_nominal[d]) for d in _outermost(peer_nominal))
    return min(lendable, max(0, quota.nominal - used), borrowed)
