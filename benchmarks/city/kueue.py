"""Kueue-like: the pool as one cohort, one ClusterQueue per department, BestEffortFIFO, and
preemption to reclaim nominal quota from borrowers.

Each department's nominal quota is what it contributed (`benchmarks.city.quotas.entitled`), per
flavour: the quota groups of `quotas.flavours` (one for the CPU clusters, one per class of GPU
cluster: 信创 or not, 等保 level), the same groups the real cycle gets; it may borrow any idle
capacity of the cohort (no borrowing or lending limit). The flavours a job's constraints
allow are tried in order, least capable first (standard before 信创, lower level first), as a
city lists them to keep its scarce hardware for the work that needs it, and the gang is placed
by best fit on the first flavour that has room for it (Kueue's default fungibility: the first
flavour that fits, borrowing or not). At each
decision the heads of the department queues compete: a head that fits within its department's
nominal goes before one that needs to borrow, then the older head first (Kueue's ordering of
ClusterQueues in a cohort with borrowing). BestEffortFIFO (Kueue's default queueing strategy): a
workload that does not fit is set aside and the ones behind it are tried; `strict=True` gives
StrictFIFO, where a department whose head does not fit admits nothing behind it. Admission
places the gang greedily (best fit, `benchmarks.city.greedy`).

Reclaim (Kueue's `reclaimWithinCohort: Any`): a head that fits within its department's nominal
in a flavour but not in the free capacity may evict workloads of departments that use more than
their nominal in that flavour, lowest priority and most recently started first, on one cluster
of the flavour that its constraints allow, as many as it takes to fit, and never more than
bring such a department down to its nominal. An evicted workload goes back to its queue in
arrival order and its run so far is lost.

Simplified against the real Kueue: no preemption within a ClusterQueue by
priority, admission and placement in one step (Kueue admits on quota and leaves placement to
kube-scheduler, which may then fail to place a gang).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from benchmarks.city.greedy import Pool
from benchmarks.city.quotas import entitled, flavour_of, flavours
from benchmarks.city.sim import Decision, Start
from benchmarks.city.trace import Trace, TraceJob


class KueueLike:
    name = "kueue"

    def __init__(self, trace: Trace, *, strict: bool = False, reclaim: bool = True) -> None:
        self._strict = strict
        self._reclaim = reclaim
        self._pool = Pool(trace)
        self._queues: dict[str, deque[TraceJob]] = {d: deque() for d in trace.departments}
        # Per department, (flavour, resource) -> nominal and use; use counts in the flavour of
        # the cluster a job runs on.
        self._nominal = entitled(trace)
        self._flavour = {c.name: flavour_of(c) for c in trace.clusters}
        # Least capable first: standard before 信创, then the 等保 level (of a group's most
        # capable cluster, where a group spans several).
        self._order = sorted(
            flavours(trace.clusters).items(),
            key=lambda gc: (
                max(c.xinchuang for c in gc[1]),
                max(c.security_level for c in gc[1]),
                gc[0],
            ),
        )
        self._options_of: dict[tuple[object, ...], tuple[tuple[str, tuple[str, ...]], ...]] = {}
        self._used: dict[str, dict[tuple[str, str], int]] = {d: {} for d in trace.departments}
        self._where: dict[str, tuple[str, list[int]]] = {}
        self._running: dict[str, tuple[TraceJob, float]] = {}  # job id -> (job, started)
        # Heads admitted by evicting: their room is booked, they start at the next decision,
        # once the evicted pods have stopped (as the real cycle's AWAITING_PREEMPTION).
        self._deferred: list[Start] = []
        self._starting: set[str] = set()

    def submit(self, jobs: Sequence[TraceJob], now: float) -> None:
        for job in jobs:
            self._queues[job.department].append(job)

    def finish(self, jobs: Sequence[TraceJob], now: float) -> None:
        for job in jobs:
            self._release(job)

    def _release(self, job: TraceJob) -> None:
        cluster, nodes = self._where.pop(job.job_id)
        self._pool.give(cluster, nodes, job)
        self._book(job, cluster, -1)
        del self._running[job.job_id]

    def _book(self, job: TraceJob, cluster: str, sign: int) -> None:
        used, g = self._used[job.department], self._flavour[cluster]
        for r, q in job.resources:
            used[g, r] = used.get((g, r), 0) + sign * q * job.replicas

    def _options(self, job: TraceJob) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The flavours the job may use, in order, each with its clusters the job may use."""
        key = (job.min_security_level, job.xinchuang_required, job.resources)
        if key not in self._options_of:
            allowed = self._pool.eligible(job)
            options = []
            for g, members in self._order:
                clusters = tuple(c.name for c in members if c.name in allowed)
                if clusters:
                    options.append((g, clusters))
            self._options_of[key] = tuple(options)
        return self._options_of[key]

    def _fits_nominal(self, job: TraceJob, g: str) -> bool:
        used, nominal = self._used[job.department], self._nominal[job.department]
        return all(
            used.get((g, r), 0) + q * job.replicas <= nominal.get((g, r), 0)
            for r, q in job.resources
        )

    def _within_nominal(self, job: TraceJob) -> bool:
        return any(self._fits_nominal(job, g) for g, _ in self._options(job))

    def _place(self, job: TraceJob) -> tuple[str, list[int]] | None:
        """Best fit on the first flavour, in order, that has room for the gang."""
        for _, clusters in self._options(job):
            found = self._pool.place(job, clusters)
            if found is not None:
                return found
        return None

    def _borrowing(self, job: TraceJob, minus: dict[str, dict[tuple[str, str], int]]) -> bool:
        """Whether `job`'s department still uses more than its nominal on a resource `job`
        holds once `minus` (victims chosen so far) is taken away, and would not drop below
        its nominal by losing `job` too."""
        dept, g = job.department, self._flavour[self._where[job.job_id][0]]
        used, nominal, gone = self._used[dept], self._nominal[dept], minus.get(dept, {})
        return any(
            used.get((g, r), 0) - gone.get((g, r), 0) - q * job.replicas >= nominal.get((g, r), 0)
            for r, q in job.resources
            if q
        )

    def _victims(self, head: TraceJob, now: float) -> list[TraceJob] | None:
        """The borrowers' workloads to evict so that `head` fits, or None if none will do: on
        a cluster of a flavour in which `head` fits its department's nominal, workloads of
        departments above their nominal in that flavour."""
        options = [(g, cs) for g, cs in self._options(head) if self._fits_nominal(head, g)]
        borrowing = {
            (d, g)
            for d, used in self._used.items()
            if d != head.department
            for (g, r), q in used.items()
            if q > self._nominal[d].get((g, r), 0)
        }
        if not options or not borrowing:
            return None
        by_cluster: dict[str, list[tuple[TraceJob, float]]] = {}
        for job, started in self._running.values():
            # Not one admitted by this very decision (it would never have started), nor one
            # whose start was deferred to it.
            cluster = self._where[job.job_id][0]
            if (
                (job.department, self._flavour[cluster]) in borrowing
                and started < now
                and job.job_id not in self._starting
            ):
                by_cluster.setdefault(cluster, []).append((job, started))
        for cluster in (c for _, clusters in options for c in clusters):
            candidates = sorted(
                by_cluster.get(cluster, []), key=lambda js: (js[0].priority, -js[1], js[0].job_id)
            )
            if not candidates:
                continue
            trial = self._pool.copy([cluster])
            chosen: list[TraceJob] = []
            gone: dict[str, dict[tuple[str, str], int]] = {}
            for job, _ in candidates:
                if not self._borrowing(job, gone):
                    continue
                trial.give(*self._where[job.job_id], job)
                chosen.append(job)
                row = gone.setdefault(job.department, {})
                g = self._flavour[self._where[job.job_id][0]]
                for r, q in job.resources:
                    row[g, r] = row.get((g, r), 0) + q * job.replicas
                if trial.place(head, [cluster]) is not None:
                    return chosen
        return None

    def schedule(self, now: float) -> Decision:
        decision = Decision(starts=self._deferred)
        self._deferred = []
        # Starting only now: not yet running in the simulation, so no victim this decision.
        self._starting = {s.job_id for s in decision.starts}
        decision_victims: list[TraceJob] = []
        no_reclaim: set[tuple[object, ...]] = set()
        # Per department, how far down its queue this decision has looked.
        cursor = dict.fromkeys(self._queues, 0)
        admitted: dict[str, list[int]] = {d: [] for d in self._queues}
        # Each department's head and its rank; a rank changes only when its department's
        # cursor, queue or usage does, so only those are recomputed (not every head each turn).
        heads: dict[str, tuple[bool, float, str]] = {}
        stale = set(self._queues)
        while True:
            for d in stale:
                if cursor[d] < len(self._queues[d]):
                    j = self._queues[d][cursor[d]]
                    heads[d] = (not self._within_nominal(j), j.arrival_s, j.job_id)
                else:
                    heads.pop(d, None)
            if not heads:
                break
            dept = min(heads, key=heads.__getitem__)
            stale = {dept}
            head = self._queues[dept][cursor[dept]]
            found = self._place(head)
            evicted = False
            shape = (dept, head.resources, head.replicas, head.min_security_level,
                     head.xinchuang_required)  # fmt: skip
            if (
                found is None
                and self._reclaim
                and shape not in no_reclaim
                and self._within_nominal(head)
            ):
                victims = self._victims(head, now)
                if not victims:  # nothing evicted since: the same shape would fail again
                    no_reclaim.add(shape)
                else:
                    no_reclaim.clear()
                    stale.update(victim.department for victim in victims)
                    for victim in victims:
                        self._release(victim)
                        self._queues[victim.department].append(victim)
                        decision.preempted.append(victim.job_id)
                    decision_victims += victims
                    found = self._place(head)
                    evicted = True
            if found is None:
                # StrictFIFO: nothing behind it either; BestEffortFIFO: try the next one.
                cursor[dept] = len(self._queues[dept]) if self._strict else cursor[dept] + 1
                continue
            admitted[dept].append(cursor[dept])
            cursor[dept] += 1
            self._pool.take(*found, head)
            self._where[head.job_id] = found
            self._running[head.job_id] = (head, now)
            self._book(head, found[0], +1)
            start = Start(head.job_id, found[0])
            if evicted:
                self._deferred.append(start)
            else:
                decision.starts.append(start)
        requeued = {victim.department for victim in decision_victims}
        for dept, taken in admitted.items():
            if taken or dept in requeued:
                gone = set(taken)
                kept = [j for i, j in enumerate(self._queues[dept]) if i not in gone]
                # Evicted workloads were appended: back to arrival (creation) order.
                kept.sort(key=lambda j: (j.arrival_s, j.job_id))
                self._queues[dept] = deque(kept)
        return decision

    def close(self) -> None:
        pass
