"""Which running jobs a cycle may preempt, at what cost, and how many.

The solver decides whom to evict (scheduler.placement, Running work); this module decides who
is on offer and what carrying an eviction out says:

- A running job is preemptible iff it has run at least `min_runtime_s` (from its first
  replica's start) and its priority class is preemptible, or it has no class. Staying put
  whatever happens is something an admin grants, by a non-preemptible class a department is
  allowed; a job without one is preemptible as every workload is in Kueue. Otherwise a
  department could borrow another's idle share with classless jobs and keep it: the owner's
  reclaim would find nothing it may evict.
- A queued job may justify preempting lower-priority work of its department iff its class
  may preempt (no class: it may not), and it is not already waiting for replicas it preempted
  to stop (that wait must not preempt more, cycle after cycle).
- The cost of an eviction sits in the preemption tier, above money: the base unit is more than
  the most any one job's placement costs, so the solver never evicts to save money, and it is
  scaled by the work that would be lost (size in node-equivalents times hours run), so among
  victims that would all do, the young and small go first.
- At most `max_preemptions_per_cycle` evictions per cycle and `max_preemptions_per_minute` per
  minute (PREEMPTED events of the last minute, in the store: the budget survives a restart).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduler.domain import reasons
from scheduler.domain.models import Job
from scheduler.domain.quotas import PriorityClass
from scheduler.placement import MAX_COST
from scheduler.service.settings import SchedulerSettings

# Work lost is counted in tenths of a node-equivalent-hour plus one, up to this many units: a
# cap keeps the costs (and with them the solver's cost bound) small; beyond it victims tie.
MAX_LOSS_UNITS = 1000
# Hours run beyond a day add nothing: a day-old job and a week-old one are equally costly.
MAX_HOURS = 24.0


@dataclass(frozen=True)
class PreemptionRules:
    """What the builder needs to mark running jobs preemptible (see the module docstring)."""

    min_runtime_s: float = 300.0
    # Evictions this cycle may make (0: none, every running job stays).
    budget: int = 0
    # Queued jobs still waiting for replicas they preempted: they may not preempt again.
    waiting: frozenset[str] = frozenset()
    # How long after a quota was lowered below its use the excess is reclaimed
    # (scheduler.service.reclaim); None: never (the tolerant limit stays).
    reclaim_delay_s: float | None = None


def eviction_budget(settings: SchedulerSettings, preempted_last_minute: int) -> int:
    """Evictions this cycle may make: the per-cycle limit, within what the minute leaves."""
    left = settings.max_preemptions_per_minute - preempted_last_minute
    return max(0, min(settings.max_preemptions_per_cycle, left))


def rules_for(
    settings: SchedulerSettings,
    preempted_last_minute: int,
    queued: Iterable[Job],
    anything_stopping: bool,
) -> PreemptionRules:
    """The rules of one cycle. A queued job whose reason says it awaits preempted replicas
    waits for them as long as any replica is still stopping."""
    waiting = (
        frozenset(j.job_id for j in queued if j.reason == reasons.AWAITING_PREEMPTION)
        if anything_stopping
        else frozenset()
    )
    return PreemptionRules(
        settings.min_runtime_s,
        eviction_budget(settings, preempted_last_minute),
        waiting,
        settings.quota_reclaim_delay_s,
    )


def runtime_s(started: datetime | None, now: datetime) -> float:
    return 0.0 if started is None else max(0.0, (now - started).total_seconds())


def preemptible(
    job: Job,
    started: datetime | None,
    now: datetime,
    classes: Mapping[str, PriorityClass],
    rules: PreemptionRules,
) -> bool:
    if rules.budget <= 0:
        return False
    if job.spec.priority_class:
        # A class the snapshot no longer holds promised something once: keep the promise.
        pc = classes.get(job.spec.priority_class)
        if pc is None or not pc.preemptible:
            return False
    # A job none of whose replicas has started has run 0 s.
    return runtime_s(started, now) >= rules.min_runtime_s


def may_preempt(job: Job, classes: Mapping[str, PriorityClass], rules: PreemptionRules) -> bool:
    if job.job_id in rules.waiting:
        return False
    pc = classes.get(job.spec.priority_class) if job.spec.priority_class else None
    return pc is not None and pc.may_preempt


def preempt_cost(
    money_unit: int, demand: Sequence[int], replicas: int, largest: Sequence[int], hours: float
) -> int:
    """money_unit x (1 + tenths of node-equivalent-hours lost), capped (module docstring).
    `largest` is the largest node capacity per resource: a replica's node-equivalent is its
    largest share of one."""
    share = max((d / cap for d, cap in zip(demand, largest, strict=True) if cap > 0), default=0.0)
    loss = math.ceil(10 * replicas * share * (1.0 + min(hours, MAX_HOURS)))
    return min(MAX_COST, money_unit * (1 + min(MAX_LOSS_UNITS, loss)))


@dataclass(frozen=True)
class Eviction:
    """A running job the solver evicted, and who took its room."""

    job: Job
    nodes: tuple[tuple[str, str], ...]  # (cluster, node) of each replica
    takers: tuple[Job, ...]  # jobs placed this cycle on one of its nodes
    # The lowered quota it was evicted to reclaim (scheduler.service.reclaim.Reclaim.note).
    lowered: str = ""


def eviction_message(e: Eviction, now: datetime, started: datetime | None) -> str:
    """The PREEMPTED event's message: who needed the room, and that the attempt is not spent."""
    ran = runtime_s(started, now)
    where = ", ".join(sorted({f"{c}/{n}" for c, n in e.nodes}))
    # The priority rule evicts for a higher class of the victim's department (the class value
    # is resolved into spec.priority at submit); anything else is a reclaim for the others.
    same = [
        t
        for t in e.takers
        if t.department == e.job.department and t.spec.priority > e.job.spec.priority
    ]
    other = [t for t in e.takers if t.department != e.job.department]
    if e.lowered:
        why = f"preempted to reclaim a lowered quota: the {e.lowered}"
    elif same:
        names = _names(same)
        why = f"preempted by {names} of department {e.job.department} (higher priority)"
    elif other:
        departments = ", ".join(sorted({t.department for t in other}))
        why = (
            f"preempted to give department {departments} back its quota: {_names(other)} "
            "needed the room"
        )
    else:
        why = f"preempted to reclaim quota department {e.job.department} borrowed"
    return (
        f"{why} on {where} after {ran:.0f}s of run time; requeued, and this attempt "
        f"({e.job.attempt}) does not count against its attempts"
    )


def _names(jobs: Sequence[Job]) -> str:
    shown = ", ".join(_name(t) for t in jobs[:3])
    return shown + (f" and {len(jobs) - 3} more" if len(jobs) > 3 else "")


def _name(job: Job) -> str:
    """'job ID (name) [class urgent, priority 900]'."""
    label = f" ({job.spec.name})" if job.spec.name else ""
    cls = f"class {job.spec.priority_class}, " if job.spec.priority_class else ""
    return f"job {job.job_id}{label} [{cls}priority {job.spec.priority}]"


def awaiting_message(stopping: int, nodes: Iterable[str]) -> str:
    where = ", ".join(sorted(set(nodes)))
    return (
        f"placed on {where}, which {stopping} preempted replica(s) still hold; it waits for "
        "them to stop (SIGTERM, then SIGKILL after the agent's grace period) and is leased "
        "by a later cycle"
    )
