"""Which queued and running jobs are within their quota holder's guarantee this cycle (the
"within guarantee" band of scheduler.service.policy, its module docstring): per holder, jobs
ranked by class value desc, running before queued, then age, each counted per resource in one
home group, best-effort FIFO (as Kueue's queues)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.domain.eligibility import cluster_constraint_verdict, node_could_ever_fit
from scheduler.domain.models import Job, JobSpec
from scheduler.domain.quotas import PriorityClass, QuotaGroup, parent_of, selects
from scheduler.service.snapshot import Snapshot


def class_value(job: Job, classes: Mapping[str, PriorityClass]) -> int:
    """The value of the job's priority class; its bare priority without one (or for a class
    no longer defined: the submit resolved the class into spec.priority, so they agree)."""
    pc = classes.get(job.spec.priority_class) if job.spec.priority_class else None
    return job.spec.priority if pc is None else pc.value


def holder_of(department: str, quotas: Mapping[str, Sequence[QuotaGroup]]) -> str:
    """The nearest department on `department`'s path with quota rows ("" for none)."""
    name = department
    while name:
        if quotas.get(name):
            return name
        name = parent_of(name)
    return ""


def guaranteed(
    snap: Snapshot, labels: Mapping[str, Mapping[str, str]], running: Sequence[tuple[Job, str]]
) -> set[str]:
    """Ids of the jobs within their holder's nominal (module docstring)."""
    quotas, classes = snap.governance.quotas, snap.classes
    # holder -> (minus class value, 0 running / 1 queued, seq, job, clusters it may use)
    candidates: dict[str, list[tuple[int, int, int, Job, frozenset[str]]]] = {}
    for job, cluster in running:
        holder = holder_of(job.department, quotas)
        if holder:
            key = (-class_value(job, classes), 0, job.seq, job, frozenset({cluster}))
            candidates.setdefault(holder, []).append(key)
    # Jobs of one shape share their clusters (a city queue holds thousands).
    eligible_cache: dict[object, frozenset[str]] = {}
    for job in snap.queued:
        holder = holder_of(job.department, quotas)
        if holder:
            shape = _shape(job.spec)
            if shape not in eligible_cache:
                eligible_cache[shape] = _eligible(job.spec, snap)
            key = (-class_value(job, classes), 1, job.seq, job, eligible_cache[shape])
            candidates.setdefault(holder, []).append(key)
    within: set[str] = set()
    for holder, ranked in candidates.items():
        groups = [
            (
                frozenset(c for c, lab in labels.items() if selects(g.selector, lab)),
                {q.resource: q.nominal for q in g.resources},
                dict.fromkeys((q.resource for q in g.resources), 0),
            )
            for g in quotas[holder]
        ]
        # Best-effort FIFO, as Kueue's queues: a job that does not fit what is left of its
        # holder's nominal borrows, and the ones behind it may still fit (a smaller job, or
        # one needing other resources). A lower class may thus be guaranteed while a higher
        # one of its department borrows: it never evicts it (the engine's priority rule
        # compares classes, job_preempt_rank), it only goes first for the nominal.
        for _, _, _, job, clusters in sorted(ranked, key=lambda k: k[:3]):
            home = _home_groups(job, clusters, groups)
            needs = [(g, r, q) for g, need in home.items() for r, q in need.items()]
            if needs and all(groups[g][2][r] + q <= groups[g][1][r] for g, r, q in needs):
                for g, r, q in needs:
                    groups[g][2][r] += q
                within.add(job.job_id)
    return within


Group = tuple[frozenset[str], dict[str, int], dict[str, int]]  # clusters, nominal, taken


def _home_groups(
    job: Job, clusters: frozenset[str], groups: Sequence[Group]
) -> dict[int, dict[str, int]]:
    """Where a job's guarantee is counted: for each resource it needs, the first group
    (GetDepartment's order) whose clusters include one the job may use (a running job: its
    cluster) and whose nominal for that resource is positive -> what it needs there. Only
    one group per resource: a job that does not fit its home is not guaranteed through
    another, where the engine might then place it above the department's own borrowing work.
    Empty: it borrows -- no quota of its holder covers it, or one covers a resource it
    needs with no positive nominal anywhere it may run."""
    home: dict[int, dict[str, int]] = {}
    for r, per_replica in job.spec.resources.items():
        if not per_replica:
            continue
        listed = False
        for g, (members, nominal, _) in enumerate(groups):
            if r not in nominal or not clusters & members:
                continue
            listed = True
            if nominal[r] > 0:
                home.setdefault(g, {})[r] = per_replica * job.spec.replicas
                break
        else:
            if listed:
                return {}
    return home


def _eligible(spec: JobSpec, snap: Snapshot) -> frozenset[str]:
    """The clusters a queued job could ever run on: their constraints allow it, and one of
    their kinds of node could hold a replica when empty (or none has reported yet: the benefit
    of the doubt, as the submit's check gives). Without the node test a GPU job counted its
    cores against the group of CPU clusters its 等保 level and 信创 rule allow, where it can
    never run: with that group's nominal taken by its department's CPU work, the job borrowed
    and could not reclaim its own GPU cluster from a borrower."""
    kinds = snap.node_kinds  # computed once per snapshot; explanations read it too
    return frozenset(
        c.name
        for c in snap.clusters
        if cluster_constraint_verdict(spec, c) is None
        and (
            not (found := kinds.get(c.name))
            or any(node_could_ever_fit(spec, k.node) for k in found)
        )
    )


def _shape(spec: JobSpec) -> tuple[object, ...]:
    """What `_eligible` reads of a job, hashable."""
    c = spec.constraints
    return (
        c.min_security_level,
        c.allowed_regions,
        c.xinchuang_required,
        tuple(sorted(c.node_selector.items())),
        c.gpu_models,
        c.tolerations,
        c.clusters,
        tuple(sorted(c.cluster_selector.items())),
        tuple(sorted(spec.resources.items())),
    )
