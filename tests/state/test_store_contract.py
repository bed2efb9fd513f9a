"""One contract suite for the store, run against SQLite and PostgreSQL."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from scheduler.domain.errors import AlreadyExists, NotFound, Unavailable
from scheduler.domain.models import (
    ClusterSpec,
    ClusterVerdict,
    Constraints,
    Explanation,
    Job,
    JobSpec,
    Node,
    Run,
)
from scheduler.domain.security import Principal, Role
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.state import Store, Tx
from tests.conftest import postgres_url, reset_postgres

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def _spec(client_id: str = "c1", **kw: object) -> JobSpec:
    base: dict[str, object] = {
        "client_id": client_id,
        "command": ("echo", "hi"),
        "resources": {"cpu": 500},
        "constraints": Constraints(
            min_security_level=3, allowed_regions=("hz",), node_selector={"arch": "aarch64"}
        ),
        "env": {"A": "1"},
        "labels": {"team": "交通"},
    }
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def _job(
    job_id: str,
    department: str = "公安局",
    client_id: str = "c1",
    state: JobState = JobState.QUEUED,
) -> Job:
    return Job(
        job_id=job_id,
        department=department,
        spec=_spec(client_id),
        state=state,
        created_at=NOW,
        updated_at=NOW,
    )


# How a test job reaches each state: recorded at submit in the first, then moved through the
# rest, as Jobs.insert and Jobs.move allow nothing else.
_ROUTE: dict[JobState, tuple[JobState, ...]] = {
    JobState.QUEUED: (JobState.QUEUED,),
    JobState.REJECTED: (JobState.REJECTED,),
    JobState.LEASED: (JobState.QUEUED, JobState.LEASED),
    JobState.RUNNING: (JobState.QUEUED, JobState.LEASED, JobState.RUNNING),
    JobState.SUCCEEDED: (JobState.QUEUED, JobState.LEASED, JobState.SUCCEEDED),
    JobState.FAILED: (JobState.QUEUED, JobState.LEASED, JobState.FAILED),
    JobState.CANCELLED: (JobState.QUEUED, JobState.CANCELLED),
}


def _job_in(
    tx: Tx,
    job_id: str,
    department: str = "公安局",
    client_id: str = "c1",
    state: JobState = JobState.QUEUED,
) -> Job:
    """`_job(...)` stored in `state`, with the events of the moves that got it there."""
    first, *moves = _ROUTE[state]
    job: Job | None = tx.jobs.insert(_job(job_id, department, client_id, first))
    for step in moves:
        assert job is not None
        job = tx.jobs.move(job, step, reason=step.value, message="", now=NOW)
    assert job is not None and job.state is state
    return job


def _seed(store: Store) -> None:
    with store.unit() as tx:
        tx.departments.create("公安局", "Public Security Bureau", NOW)
        tx.departments.create("交通局", "Transport", NOW)
        tx.clusters.create(ClusterSpec("gov-a", "hz", "hz-a", "gov", 3, True, {"cpu": 0.05}), NOW)
        tx.tokens.add("tok_a", Principal(Role.DEPARTMENT, "公安局"), "hash-a", NOW, "test")


def test_migrations_match_the_models(store: Store) -> None:
    """Alembic's head schema equals the SQLModel tables, so migrations never drift. SQLite's
    reflection skips indexes on expressions (with a warning), so there the queue-order index
    is looked up in the schema itself."""
    with store.engine.connect() as conn, warnings.catch_warnings():
        for skipped in ("Skipped unsupported reflection", "autogenerate skipping"):
            warnings.filterwarnings(
                "ignore", f"{skipped}.*expression-based index.*ix_job_queue_rank"
            )
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        if store.is_sqlite:
            sql = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_job_queue_rank'")
            ).scalar_one()
            assert "coalesce(effective_priority, priority) DESC" in sql


def test_departments_roundtrip_and_unique_names(store: Store) -> None:
    """Departments keep Chinese names, their tokens are found by hash, and names are unique."""
    _seed(store)
    with store.unit(write=False) as tx:
        assert [d.name for d in tx.departments.all()] == sorted(["公安局", "交通局"])
        [found] = [d for d in tx.departments.all() if d.name == "公安局"]
        assert found.display_name == "Public Security Bureau" and found.created_at == NOW
        assert tx.tokens.holder("hash-a") == Principal(Role.DEPARTMENT, "公安局")
        assert tx.tokens.holder("nope") is None
    with pytest.raises(AlreadyExists) as err, store.unit() as tx:
        tx.departments.create("公安局", "again", NOW)
    assert err.value.field == "name"


def test_failed_unit_changes_nothing(store: Store) -> None:
    """An exception inside a unit of work rolls back everything it wrote."""
    _seed(store)
    with pytest.raises(RuntimeError), store.unit() as tx:
        tx.departments.create("民政局", "", NOW)
        raise RuntimeError("boom")
    with store.unit(write=False) as tx:
        assert "民政局" not in {d.name for d in tx.departments.all()}


def test_cluster_state_heartbeat_nodes(store: Store) -> None:
    """Clusters keep their spec, state and heartbeat; replace_nodes adds, updates, removes."""
    _seed(store)
    nodes = [
        Node("gov-a", "n1", {"cpu": 4000, "memory": 8192}, {"arch": "aarch64"}),
        Node("gov-a", "n2", {"cpu": 8000}, {}),
    ]
    with store.unit() as tx:
        assert tx.clusters.replace_nodes("gov-a", nodes, NOW) is True
        tx.clusters.heartbeat("gov-a", NOW, "agent-1")
        tx.clusters.set_state("gov-a", ClusterState.CORDONED)
    with store.unit() as tx:
        assert tx.clusters.replace_nodes("gov-a", nodes, NOW) is False
        c = tx.clusters.get("gov-a")
        assert c.state is ClusterState.CORDONED and c.last_heartbeat == NOW
        assert c.spec.price == {"cpu": 0.05} and c.spec.xinchuang
        assert tx.clusters.nodes("gov-a") == nodes
        assert tx.clusters.replace_nodes("gov-a", nodes[:1], NOW) is True
    with store.unit() as tx:
        assert [n.name for n in tx.clusters.nodes()] == ["n1"]
        tx.clusters.delete("gov-a")
    with store.unit(write=False) as tx:
        assert tx.clusters.all() == [] and tx.clusters.nodes() == []
        with pytest.raises(NotFound):
            tx.clusters.get("gov-a")


def test_jobs_unique_client_id_per_department(store: Store) -> None:
    """client_id is unique per department but may repeat across departments."""
    _seed(store)
    with store.unit() as tx:
        tx.jobs.insert(_job("j1"))
        tx.jobs.insert(_job("j2", department="交通局"))
    with store.unit(write=False) as tx:
        found = tx.jobs.by_client_ids("公安局", ["c1", "c9"])
        assert list(found) == ["c1"] and found["c1"].job_id == "j1"
        job = tx.jobs.get("j1")
        assert job.spec == _spec("c1") and job.seq > 0
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store.unit() as tx:
        tx.jobs.insert(_job("j3"))


def test_job_list_pages_newest_first_with_filters(store: Store) -> None:
    """Listing is newest first, filters by state and job set, and pages by sequence."""
    _seed(store)
    with store.unit() as tx:
        for i in range(5):
            _job_in(
                tx,
                f"j{i}",
                client_id=f"c{i}",
                state=JobState.QUEUED if i % 2 else JobState.SUCCEEDED,
            )
    with store.unit(write=False) as tx:
        page1 = tx.jobs.page("公安局", limit=2)
        assert [j.job_id for j in page1] == ["j4", "j3"]
        page2 = tx.jobs.page("公安局", limit=2, before_seq=page1[-1].seq)
        assert [j.job_id for j in page2] == ["j2", "j1"]
        queued = tx.jobs.page("公安局", states=[JobState.QUEUED])
        assert [j.job_id for j in queued] == ["j3", "j1"]
        assert tx.jobs.page("公安局", job_set="other") == []
        assert tx.jobs.page("交通局") == []
        assert [j.job_id for j in tx.jobs.in_states([JobState.QUEUED])] == ["j1", "j3"]


def test_conditional_transition(store: Store) -> None:
    """A move applies only from the state the job was read in, so stale writers lose."""
    _seed(store)
    with store.unit() as tx:
        queued = tx.jobs.insert(_job("j1"))
    later = NOW + timedelta(seconds=5)
    with store.unit() as tx:
        assert tx.jobs.move(
            queued, JobState.CANCELLED, reason="CANCELLED", message="by test", now=later
        )
        assert (
            tx.jobs.move(
                queued,
                JobState.LEASED,
                reason="PLACED",
                message="stale",
                now=later,
                attempt=1,
                cluster="gov-a",
            )
            is None
        )
    with store.unit(write=False) as tx:
        job = tx.jobs.get("j1")
        assert job.state is JobState.CANCELLED and job.attempt == 0 and job.updated_at == later
        assert tx.jobs.count_by_state() == {JobState.CANCELLED: 1}


def test_queued_counts_and_committed_moves_for_metrics(store: Store) -> None:
    """Queued jobs are counted per (department, reason); after_commit sees the moves a
    committed transaction made, and is not called for one rolled back."""
    _seed(store)
    seen: list[list[tuple[JobState, JobState, str]]] = []
    store.after_commit = lambda tx: seen.append(
        [(a.state, b.state, b.reason) for a, b in tx.jobs.moves]
    )
    with store.unit() as tx:
        a = tx.jobs.insert(_job("j1", client_id="a"))
        tx.jobs.insert(_job("j2", client_id="b"))
        tx.jobs.insert(_job("j3", department="交通局", client_id="c"))
        tx.jobs.set_reasons([(a, "INSUFFICIENT_CAPACITY", "no room")], NOW)
    with store.unit(write=False) as tx:
        assert tx.jobs.queued_by_department_reason() == {
            ("公安局", "INSUFFICIENT_CAPACITY"): 1,
            ("公安局", ""): 1,
            ("交通局", ""): 1,
        }
    with pytest.raises(RuntimeError), store.unit() as tx:
        tx.jobs.move(a, JobState.CANCELLED, reason="CANCELLED", message="x", now=NOW)
        raise RuntimeError("rolled back")
    with store.unit() as tx:
        tx.jobs.move(a, JobState.CANCELLED, reason="CANCELLED", message="x", now=NOW)
        tx.jobs.move(a, JobState.LEASED, reason="PLACED", message="stale", now=NOW)
    store.after_commit = None
    assert seen == [[], [(JobState.QUEUED, JobState.CANCELLED, "CANCELLED")]]


def test_runs_and_events(store: Store) -> None:
    """Runs are found by job, cluster and activity; events are ordered and filtered."""
    _seed(store)
    with store.unit() as tx:
        job = tx.jobs.insert(_job("j1"))
        tx.runs.insert(
            [Run(f"r{i}", "j1", 1, i, "gov-a", f"n{i}", RunState.LEASED, NOW) for i in range(2)]
        )
        tx.jobs.move(
            job, JobState.LEASED, reason="PLACED", message="", now=NOW, cluster="gov-a", attempt=1
        )
    with store.unit() as tx:
        assert tx.runs.transition("r0", RunState.SUCCEEDED, exit_code=0, finished_at=NOW)
    with store.unit(write=False) as tx:
        assert [r.run_id for r in tx.runs.active(cluster="gov-a")] == ["r1"]
        assert tx.runs.active(cluster="other") == []
        done = tx.runs.get_many(["r0", "zz"])
        assert list(done) == ["r0"] and done["r0"].exit_code == 0
        assert [r.replica for r in tx.runs.for_job("j1", 1)] == [0, 1]
        events = tx.events.after("公安局", 0)
        assert [e.state for e in events] == [JobState.QUEUED, JobState.LEASED]
        assert events[0].event_id < events[1].event_id
        assert tx.events.after("公安局", events[0].event_id)[0].cluster == "gov-a"
        assert tx.events.after("交通局", 0) == []
        assert tx.events.after("公安局", 0, job_set="nope") == []


def test_explanations_overwrite(store: Store) -> None:
    """The latest explanation of a job replaces the previous one."""
    _seed(store)
    with store.unit() as tx:
        tx.jobs.insert(_job("j1"))
        tx.explanations.put(Explanation("j1", JobState.QUEUED, "A", "first", (), NOW))
    verdict = ClusterVerdict("gov-a", True, "FITS", "has room")
    with store.unit() as tx:
        tx.explanations.put(Explanation("j1", JobState.QUEUED, "B", "second", (verdict,), NOW))
    with store.unit(write=False) as tx:
        got = tx.explanations.get("j1", JobState.QUEUED)
        assert got is not None and got.reason == "B" and got.clusters == (verdict,)
        assert tx.explanations.get("j2", JobState.QUEUED) is None


def test_reopening_keeps_data(store_url: str) -> None:
    """A second Store on the same database sees what the first committed (restart)."""
    first = Store(store_url)
    _seed(first)
    first.dispose()
    second = Store(store_url)
    with second.unit(write=False) as tx:
        assert len(tx.departments.all()) == 2
    second.dispose()


def test_run_transitions_are_conditional_and_terminal_states_final(store: Store) -> None:
    """A run moves only from the state the caller expects; a finished run never moves again."""
    _seed(store)
    with store.unit() as tx:
        tx.jobs.insert(_job("j1"))
        tx.runs.insert([Run("r0", "j1", 1, 0, "gov-a", "n0", RunState.LEASED, NOW)])
    later = NOW + timedelta(seconds=5)
    with store.unit() as tx:
        assert tx.runs.transition(
            "r0", RunState.RUNNING, expected=[RunState.LEASED], started_at=NOW
        )
        assert not tx.runs.transition("r0", RunState.PENDING, expected=[RunState.LEASED])
        # started_at keeps the first report.
        assert tx.runs.transition("r0", RunState.SUCCEEDED, exit_code=0, started_at=later)
        assert not tx.runs.transition("r0", RunState.LOST, message="cluster lost")
        with pytest.raises(ValueError, match="terminal"):
            tx.runs.transition("r0", RunState.LOST, expected=[RunState.SUCCEEDED])
    with store.unit(write=False) as tx:
        run = tx.runs.get_many(["r0"])["r0"]
    assert run.state is RunState.SUCCEEDED and run.message == "" and run.exit_code == 0
    assert run.started_at == NOW


def test_transient_database_failure_is_reported_as_unavailable() -> None:
    """A lock wait that times out (as a deadlock would) surfaces as Unavailable, not a crash,
    and the holder's transaction is unaffected."""
    url = postgres_url()
    reset_postgres(url)
    store = Store(url)
    try:
        _seed(store)
        with store.unit() as holder:
            holder.clusters.heartbeat("gov-a", NOW, "holder")
            with pytest.raises(Unavailable, match="retry"), store.unit() as waiter:
                waiter.session.execute(text("SET LOCAL lock_timeout = '100ms'"))
                waiter.clusters.heartbeat("gov-a", NOW, "waiter")
        with store.unit(write=False) as tx:
            assert tx.clusters.get("gov-a").last_heartbeat == NOW
    finally:
        store.dispose()


def test_a_connection_lost_inside_a_unit_is_reported_as_unavailable() -> None:
    """The server ends the unit's connection (as a failover or a network cut does): the next
    statement surfaces as Unavailable (retry), not an internal error, and the store keeps
    working on a fresh connection."""
    url = postgres_url()
    reset_postgres(url)
    store = Store(url)
    try:
        _seed(store)
        with pytest.raises(Unavailable, match="retry"), store.unit() as tx:
            _cut(store, tx)
            tx.clusters.heartbeat("gov-a", NOW, "cut off")
        _works_on(store)
    finally:
        store.dispose()


def _cut(store: Store, tx: Tx) -> None:
    """The server ends the connection `tx` runs on, as a failover or a network cut does."""
    pid = tx.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with store.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _works_on(store: Store) -> None:
    """A write and a read on fresh connections after a cut."""
    with store.unit() as tx:
        tx.clusters.heartbeat("gov-a", NOW, "again")
    with store.unit(write=False) as tx:
        assert tx.clusters.get("gov-a").last_heartbeat == NOW


def test_a_connection_lost_after_a_units_last_statement_is_not_an_internal_error() -> None:
    """The server ends the connection after the unit's last statement, so the rollback or the
    commit at its end is the first to meet the dead connection: a read unit's read stands and
    it ends without an error; a write unit reports Unavailable (retry), not the rollback's own
    failure; the store keeps working on fresh connections."""
    url = postgres_url()
    reset_postgres(url)
    store = Store(url)
    try:
        _seed(store)
        with store.unit(write=False) as tx:
            seen = tx.clusters.get("gov-a")
            _cut(store, tx)
        assert seen.name == "gov-a"
        with pytest.raises(Unavailable, match="retry"), store.unit() as tx:
            tx.clusters.heartbeat("gov-a", NOW, "cut off before the commit")
            _cut(store, tx)
        _works_on(store)
    finally:
        store.dispose()


def test_reasons_and_explanations_are_written_in_bulk(store: Store) -> None:
    """set_reasons updates only still-queued jobs; put_many replaces earlier explanations and
    adds new ones."""
    _seed(store)
    with store.unit() as tx:
        queued = tx.jobs.insert(_job("j1", client_id="a"))
        cancelled = _job_in(tx, "j2", client_id="b", state=JobState.CANCELLED)
        tx.explanations.put(Explanation("j1", JobState.QUEUED, "OLD", "old", (), NOW))
    later = NOW + timedelta(seconds=1)
    verdict = ClusterVerdict("gov-a", True, "FITS", "has room")
    with store.unit() as tx:
        tx.jobs.set_reasons([(queued, "R1", "m1"), (cancelled, "R2", "m2")], later)
        tx.explanations.put_many(
            [
                Explanation("j1", JobState.QUEUED, "R1", "m1", (verdict,), later),
                Explanation("j2", JobState.QUEUED, "R2", "m2", (), later),
            ]
        )
    with store.unit(write=False) as tx:
        jobs = tx.jobs.get_many(["j1", "j2"])
        one = tx.explanations.get("j1", JobState.QUEUED)
        two = tx.explanations.get("j2", JobState.QUEUED)
    assert (jobs["j1"].reason, jobs["j1"].message) == ("R1", "m1")
    assert jobs["j2"].reason != "R2" and jobs["j2"].state is JobState.CANCELLED
    assert one is not None and one.reason == "R1" and one.clusters == (verdict,)
    assert two is not None and two.message == "m2"


def test_queued_first_orders_by_priority_then_age_and_cuts(store: Store) -> None:
    """A cycle's queue: highest priority first, oldest first within a priority, at most `limit`."""
    _seed(store)
    with store.unit() as tx:
        for job_id, priority in (("a", 0), ("b", 5), ("c", 5), ("d", 1)):
            job = _job(job_id, client_id=job_id)
            tx.jobs.insert(replace(job, spec=replace(job.spec, priority=priority)))
        _job_in(tx, "e", client_id="e", state=JobState.RUNNING)
    with store.unit(write=False) as tx:
        assert [j.job_id for j in tx.jobs.queued_first(10)] == ["b", "c", "d", "a"]
        assert [j.job_id for j in tx.jobs.queued_first(2)] == ["b", "c"]
