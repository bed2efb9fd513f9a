"""Department use cases: submit, read, list, cancel, watch and explain jobs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError

from scheduler.domain import reasons
from scheduler.domain.eligibility import rejection, static_verdict
from scheduler.domain.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidSpec,
    NotFound,
    quote,
)
from scheduler.domain.models import (
    ClusterVerdict,
    Explanation,
    Job,
    JobEvent,
    JobSpec,
    Node,
    QueuePosition,
    Run,
)
from scheduler.domain.states import JobState, RunState
from scheduler.domain.validation import MAX_BATCH, MAX_ID_LEN, spec_digest, validate_job_spec
from scheduler.service import audit
from scheduler.service.clock import Clock
from scheduler.service.governance import resolve_priority_class
from scheduler.service.job_update import JobUpdate, apply_update
from scheduler.service.settings import SchedulerSettings
from scheduler.service.views import JobView
from scheduler.state import Store, Tx

MAX_PAGE = 500
MAX_ITEM_MESSAGE = 1024


@dataclass(frozen=True)
class SubmitOutcome:
    index: int
    client_id: str
    job_id: str = ""
    duplicate: bool = False
    state: JobState | None = None
    reason: str = ""
    message: str = ""
    error: DomainError | None = None


class JobsService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: SchedulerSettings,
        on_submit: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._on_submit = on_submit

    # -- submit -----------------------------------------------------------------------------

    def submit(
        self, department: str, items: Sequence[JobSpec | DomainError]
    ) -> list[SubmitOutcome]:
        """Validates each item, then records every valid one in ONE transaction.

        Idempotent per (department, client_id): an id seen before, in an earlier request or
        earlier in this batch, with the same spec (spec_digest) returns the original job with
        duplicate=True; with a different spec it is an ALREADY_EXISTS item error. A concurrent
        submit of the same id shows up as a unique-constraint violation; the whole batch is
        then retried and finds the other job as a duplicate, so the dedup is transactional.
        """
        if not items:
            raise InvalidSpec("at least one item is required", field="items")
        if len(items) > MAX_BATCH:
            raise InvalidSpec(f"{len(items)} items; at most {MAX_BATCH} per request", field="items")
        outcomes: dict[int, SubmitOutcome] = {}
        valid: list[tuple[int, JobSpec]] = []
        for i, item in enumerate(items):
            if isinstance(item, DomainError):
                outcomes[i] = SubmitOutcome(i, "", error=item)
                continue
            try:
                valid.append((i, validate_job_spec(item)))
            except DomainError as exc:
                outcomes[i] = SubmitOutcome(i, item.client_id, error=exc)
        if valid:
            for attempt in range(5):
                try:
                    with self._store.unit() as tx:
                        outcomes.update(self._record(tx, department, valid))
                    break
                except IntegrityError:
                    if attempt == 4:
                        raise
            self._on_submit()
        return [outcomes[i] for i in range(len(items))]

    def _record(
        self, tx: Tx, department: str, valid: list[tuple[int, JobSpec]]
    ) -> dict[int, SubmitOutcome]:
        now = self._clock.now()
        existing = tx.jobs.by_client_ids(department, {s.client_id for _, s in valid})
        clusters = tx.clusters.all()
        # A cluster's nodes are read when a job's check first looks at that cluster (most
        # jobs settle on the first cluster they may use), once per request.
        read: dict[str, list[Node]] = {}

        def nodes(cluster: str) -> list[Node]:
            if cluster not in read:
                read[cluster] = tx.clusters.nodes(cluster)
            return read[cluster]

        out: dict[int, SubmitOutcome] = {}
        # Recorded together after the loop (Jobs.insert_many), their explanations after them.
        new: list[Job] = []
        rejected: list[Explanation] = []
        # Asked once for the request, and only if a job sends a bare priority.
        classes_exist = (
            any(s.priority and not s.priority_class for _, s in valid) and tx.priority_classes.any()
        )
        for i, submitted in valid:
            try:
                previous = existing.get(submitted.client_id)
                spec = resolve_priority_class(tx, department, submitted, previous, classes_exist)
            except DomainError as exc:
                out[i] = SubmitOutcome(i, submitted.client_id, error=exc)
                continue
            digest = spec_digest(spec)
            old = existing.get(spec.client_id)
            if old is not None and (old.spec_digest or spec_digest(old.spec)) != digest:
                # Reusing an idempotency key for other work is a client bug; answering with the
                # first job would silently drop the second.
                out[i] = SubmitOutcome(
                    i,
                    spec.client_id,
                    error=AlreadyExists(
                        f"client_id {quote(spec.client_id)} was already used for a different "
                        f"spec (job {old.job_id}); use a new client_id",
                        field="client_id",
                    ),
                )
                continue
            if old is not None:
                out[i] = SubmitOutcome(
                    i, spec.client_id, old.job_id, True, old.state, old.reason, old.message
                )
                continue
            verdict = rejection(spec, clusters, nodes)
            state = JobState.QUEUED if verdict is None else JobState.REJECTED
            reason, message = (
                (reasons.NOT_YET_SCHEDULED, "waiting for the next scheduling cycle")
                if verdict is None
                # Sent twice per item (message and error) in a reply of up to 1,000 items.
                else (verdict[0], _clip(verdict[1], MAX_ITEM_MESSAGE))
            )
            job = Job(
                job_id=str(uuid.uuid4()),
                department=department,
                spec=spec,
                state=state,
                created_at=now,
                updated_at=now,
                reason=reason,
                message=message,
                spec_digest=digest,
            )
            new.append(job)
            existing[spec.client_id] = job
            audit.add_targets(job.job_id)
            error = None
            if verdict is not None:
                rejected.append(
                    Explanation(job.job_id, state, reason, message, tuple(verdict[2]), now)
                )
                topology = reason in (reasons.SPREAD, reasons.ANTI_AFFINITY)
                field = "topology" if topology else "constraints"
                error = FailedPrecondition(message, field=field, reason=reason)
            out[i] = SubmitOutcome(
                i, spec.client_id, job.job_id, False, state, reason, message, error
            )
        tx.jobs.insert_many(new)
        tx.explanations.put_many(rejected)
        return out

    # -- read -------------------------------------------------------------------------------

    def get(self, department: str | None, job_id: str) -> JobView:
        with self._store.unit(write=False) as tx:
            job = self._own(tx, department, job_id)
            return JobView(job, tuple(tx.runs.for_job(job_id, job.attempt)), _position(tx, job))

    def page(
        self,
        department: str | None,
        *,
        states: Sequence[JobState] = (),
        job_set: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[JobView]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidSpec(f"must be 1-{MAX_PAGE}", field="page_size")
        with self._store.unit(write=False) as tx:
            jobs = tx.jobs.page(
                department, states=states, job_set=job_set, before_seq=before_seq, limit=limit
            )
            runs = tx.runs.for_jobs([j.job_id for j in jobs])
        by_job: dict[str, list[Run]] = {}
        for r in runs:
            by_job.setdefault(r.job_id, []).append(r)
        return [
            JobView(
                j,
                tuple(
                    sorted(
                        (r for r in by_job.get(j.job_id, []) if r.attempt == j.attempt),
                        key=lambda r: r.replica,
                    )
                ),
            )
            for j in jobs
        ]

    def events(
        self,
        department: str | None,
        after_id: int,
        *,
        job_set: str = "",
        job_id: str = "",
        limit: int = 500,
    ) -> list[JobEvent]:
        if after_id < 0:
            raise InvalidSpec("must be >= 0", field="after_event_id")
        with self._store.unit(write=False) as tx:
            if job_id:
                self._own(tx, department, job_id)
            return tx.events.after(
                department, after_id, job_set=job_set, job_id=job_id, limit=limit
            )

    def wait_for_events(self, seen_version: int, timeout: float) -> int:
        return self._store.wait_for_change(seen_version, timeout)

    def wake_watchers(self) -> None:
        self._store.wake()

    @property
    def store_version(self) -> int:
        return self._store.version

    def explain(self, department: str | None, job_id: str) -> Explanation:
        with self._store.unit(write=False) as tx:
            job = self._own(tx, department, job_id)
            stored = tx.explanations.get(job_id, job.state)
            if job.state in (JobState.QUEUED, JobState.REJECTED) and stored is not None:
                return replace(_with_preemption(tx, job, stored), position=_position(tx, job))
            # Placed or finished: the job row's reason is the latest word; keep the per-cluster
            # verdicts of the evaluation that placed it.
            verdicts = stored.clusters if stored is not None else self._verdicts(tx, job)
            when = stored.evaluated_at if stored is not None else job.updated_at
            message = job.message
            if (
                stored is not None
                and stored.reason == reasons.PLACED
                and job.reason != stored.reason
            ):
                # Keep answering "why there?" after the job has moved on.
                message = f"{job.message}; {stored.message}"
            return Explanation(job_id, job.state, job.reason, message, verdicts, when)

    def _verdicts(self, tx: Tx, job: Job) -> tuple[ClusterVerdict, ...]:
        return tuple(
            static_verdict(job.spec, c, tx.clusters.nodes(c.name)) for c in tx.clusters.all()
        )

    # -- update -----------------------------------------------------------------------------

    def update(self, department: str, job_id: str, update: JobUpdate) -> JobView:
        """Changes a job of `department` that has not finished (scheduler.service.job_update)."""
        with self._store.unit() as tx:
            self._own(tx, department, job_id)
            tx.jobs.lock([job_id])  # as a cancel or an agent sync would, before its runs
            job = tx.jobs.get(job_id)
            job = apply_update(tx, self._clock, job, update, self._settings.default_max_runtime_s)
            return JobView(job, tuple(tx.runs.for_job(job_id, job.attempt)), _position(tx, job))

    # -- cancel -----------------------------------------------------------------------------

    def cancel(
        self, department: str, job_ids: Sequence[str], note: str = ""
    ) -> list[tuple[str, JobState | None, DomainError | None]]:
        if not job_ids:
            raise InvalidSpec("at least one job id is required", field="job_ids")
        if len(job_ids) > MAX_BATCH:
            raise InvalidSpec(f"at most {MAX_BATCH} per request", field="job_ids")
        if len(note) > 1024:
            raise InvalidSpec("at most 1024 characters", field="reason")
        for i, job_id in enumerate(job_ids):
            # Each id is echoed in its result: one that no job can have is refused up front.
            if len(job_id) > MAX_ID_LEN:
                raise InvalidSpec(
                    f"is {len(job_id)} characters, at most {MAX_ID_LEN}", field=f"job_ids[{i}]"
                )
        results: list[tuple[str, JobState | None, DomainError | None]] = []
        with self._store.unit() as tx:
            now = self._clock.now()
            tx.jobs.lock(job_ids)  # all of them first, in id order (Jobs.lock)
            for job_id in job_ids:
                try:
                    job = self._own(tx, department, job_id)
                except NotFound as exc:
                    results.append((job_id, None, exc))
                    continue
                if job.state.terminal:
                    results.append(
                        (
                            job_id,
                            job.state,
                            FailedPrecondition(
                                f"job {job_id} already finished ({job.state.value})",
                                field="job_ids",
                            ),
                        )
                    )
                    continue
                message = note or "cancelled by the department"
                if not tx.jobs.move(
                    job, JobState.CANCELLED, reason=reasons.CANCELLED, message=message, now=now
                ):
                    job = tx.jobs.get(job_id)
                    results.append(
                        (
                            job_id,
                            job.state,
                            FailedPrecondition(
                                f"job {job_id} changed state concurrently ({job.state.value})",
                                field="job_ids",
                            ),
                        )
                    )
                    continue
                # Runs are marked now; the agent sees them as unwanted on its next sync and
                # stops the processes.
                for run in tx.runs.for_job(job_id, job.attempt):
                    # A preempted replica still stopping keeps holding its node until the
                    # agent reports it ended (it is in the agent's cancel list already).
                    if run.state.active and run.state is not RunState.STOPPING:
                        tx.runs.transition(
                            run.run_id,
                            RunState.CANCELLED,
                            expected=[run.state],
                            message=message,
                            finished_at=now,
                        )
                results.append((job_id, JobState.CANCELLED, None))
        return results

    def _own(self, tx: Tx, department: str | None, job_id: str) -> Job:
        return owned_job(tx, department, job_id)


def owned_job(tx: Tx, department: str | None, job_id: str) -> Job:
    """The job if it belongs to `department` (None: any, for an operator); NOT_FOUND
    otherwise, so ids of other departments' jobs cannot be probed."""
    if not job_id:
        raise InvalidSpec("is required", field="job_id")
    job = None
    if len(job_id) <= MAX_ID_LEN:
        with contextlib.suppress(NotFound):
            job = tx.jobs.get(job_id)
    if job is None or (department is not None and job.department != department):
        raise NotFound(f"job {quote(job_id)} not found", field="job_id")
    return job


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_preemption(tx: Tx, job: Job, stored: Explanation) -> Explanation:
    """A queued job's explanation, plus its preemption while it waits to run again (a cycle's
    newer reason would otherwise hide that it was preempted, by whom, and that the attempt
    was not counted)."""
    if job.state is not JobState.QUEUED or stored.reason == reasons.PREEMPTED:
        return stored
    events = tx.events.for_job(job.job_id)
    last = events[-1] if events else None
    if last is None or last.reason != reasons.PREEMPTED:
        return stored
    return replace(stored, message=f"{stored.message}; earlier: {last.message}")


def _position(tx: Tx, job: Job) -> QueuePosition | None:
    """A queued job's place in line as of the last cycle that ranked it (None before)."""
    department, pool = tx.queue.positions(job)
    if not department or job.effective_priority is None:
        return None
    return QueuePosition(department, pool, job.effective_priority)
