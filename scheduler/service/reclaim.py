"""Reclaiming a quota lowered below what its department runs.

The cycle never places work past a quota's limit (nominal + borrowing_limit), so running use
above it means the quota was lowered under it (SetQuota; or a cluster joined the quota's
group). For `quota_reclaim_delay_s` after the quota's triple last changed (its `changed_at`)
that work is tolerated: the engine's limit is raised to what runs (policy.model_quotas), so
the department places nothing more there but keeps what it has. After the delay the cycle
reclaims the excess:

- On offer are the running jobs of the quota's members, in its clusters and using its
  resource, that the engine may evict at all (preemption.preemptible: a preemptible class,
  run at least min_runtime_s, an eviction budget left; a preempted job's STOPPING replicas no
  longer count as running). They are chosen lowest effective priority first, then youngest
  (latest submitted) first, while the cycle's eviction budget lasts, until they hold the
  excess.
- The engine's limit becomes what it sees running in the scope minus what the chosen hold (at
  most the excess): it must evict that much, from these or other evictable jobs of the quota
  as its preemption costs decide, and can place nothing there. An answer exists: the chosen
  jobs are evictable, within the budget, and their quota is above its nominal, which is the
  engine's reclaim rule for evicting them.

The order is the reverse of the one in which the engine's repair of the previous placement
(placement.warm_start.repair) keeps running jobs (the non-preemptible first, then by priority
and age), so that starting answer already leaves out no more than the chosen jobs. Several
over-limit quotas share the budget in the order of policy.quotas, and a job chosen for one
counts toward every quota it is in. A quota without evictable work keeps the tolerant limit:
nothing is evicted, and the rest of the pool is placed as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduler.domain.models import Job
from scheduler.domain.quotas import ResourceQuota, over_limit, reclaim_from
from scheduler.domain.resources import fmt
from scheduler.service.policy import Policy, ScopedQuota, group_name
from scheduler.service.preemption import PreemptionRules, preemptible
from scheduler.service.snapshot import Snapshot


@dataclass(frozen=True)
class Reclaim:
    """An over-limit quota past its delay, and what the engine must evict from it."""

    quota: ScopedQuota
    excess: int  # use above nominal + borrowing_limit
    amount: int  # what the chosen jobs hold of it, at most the excess
    engine_limit: int  # the engine's limit: what it sees running in the scope - amount
    victims: tuple[str, ...]  # ids of the jobs chosen (the engine may take others instead)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.quota.key

    def covers(self, job: Job, cluster: str) -> bool:
        return self.quota.covers(job) and cluster in self.quota.clusters

    def note(self) -> str:
        """'quota of department D for cpu in the whole pool was lowered to cpu=4 (nominal
        cpu=4 + borrowing cpu=0), over by cpu=8 since 2026-12-03 08:00:00Z'."""
        q = self.quota
        borrowing = q.borrowing_limit or 0
        since = f" since {q.changed_at:%Y-%m-%d %H:%M:%S}Z" if q.changed_at else ""
        return (
            f"quota of department {q.department} for {q.resource} in {group_name(q.selector)} "
            f"was lowered to {fmt({q.resource: q.nominal + borrowing})} (nominal "
            f"{fmt({q.resource: q.nominal})} + borrowing {fmt({q.resource: borrowing})}), "
            f"over by {fmt({q.resource: self.excess})}{since}"
        )


def row(q: ScopedQuota) -> ResourceQuota:
    return ResourceQuota(q.resource, q.nominal, q.borrowing_limit, q.lending_limit, q.changed_at)


def due(quotas: Sequence[ScopedQuota], now: datetime, delay_s: float) -> list[ScopedQuota]:
    """The quotas over their limit whose reclaim delay has passed."""
    out = []
    for q in quotas:
        start = reclaim_from(row(q), q.used, delay_s)
        if start is not None and start <= now:
            out.append(q)
    return out


def for_cycle(
    snap: Snapshot,
    policy: Policy,
    rules: PreemptionRules,
    running: Sequence[tuple[Job, tuple[tuple[str, str], ...]]],
    offered: Sequence[bool] | None = None,
) -> tuple[Reclaim, ...]:
    """The cycle's reclaims over `running` (jobs with the (cluster, node) of each replica);
    `offered`: whether each may be evicted, computed from the rules when not given."""
    if rules.reclaim_delay_s is None or rules.budget <= 0:
        return ()
    overdue = due(policy.quotas, snap.now, rules.reclaim_delay_s)
    if not overdue:
        return ()
    if offered is None:
        offered = [
            preemptible(job, snap.started.get(job.job_id), snap.now, snap.classes, rules)
            for job, _ in running
        ]
    where = [(job, nodes[0][0], len(nodes)) for job, nodes in running]
    return choose(overdue, where, offered, policy.priority, rules.budget)


def choose(
    quotas: Sequence[ScopedQuota],
    running: Sequence[tuple[Job, str, int]],
    offered: Sequence[bool],
    priority: Mapping[str, int],
    budget: int,
) -> tuple[Reclaim, ...]:
    """What to reclaim from each of `quotas` (those `due`), given the running jobs the engine
    sees with the cluster they run on and their replicas there, whether each may be evicted
    (`offered`), their effective priorities and the eviction budget (module docstring).
    Quotas from which nothing can be evicted are left out."""
    chosen: set[str] = set()
    out = []
    for q in quotas:
        # (job, what it holds of the quota, evictable) for the jobs the quota counts
        inside = [
            (job, job.spec.resources.get(q.resource, 0) * replicas, ok)
            for (job, cluster, replicas), ok in zip(running, offered, strict=True)
            if q.covers(job) and cluster in q.clusters
        ]
        excess = over_limit(row(q), q.used)
        covered = sum(held for job, held, _ in inside if job.job_id in chosen)
        candidates = sorted(
            ((job, held) for job, held, ok in inside if ok and job.job_id not in chosen),
            key=lambda c: (priority.get(c[0].job_id, c[0].spec.priority), -c[0].seq),
        )
        for job, held in candidates:
            if covered >= excess or len(chosen) >= budget:
                break
            chosen.add(job.job_id)
            covered += held
        amount = min(excess, covered)
        if amount <= 0:
            continue
        seen = sum(held for _, held, _ in inside)
        victims = tuple(job.job_id for job, _, _ in inside if job.job_id in chosen)
        out.append(Reclaim(q, excess, amount, seen - amount, victims))
    return tuple(out)
