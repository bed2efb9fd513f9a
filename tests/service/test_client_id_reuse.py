"""An idempotency key names one spec: the same spec again is a duplicate, another spec under the
same client_id is refused (on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text

from scheduler.domain.errors import AlreadyExists
from tests.service.conftest import Pool, node, spec


def test_same_client_id_with_another_spec_in_one_batch_is_already_exists(pool: Pool) -> None:
    """Twice in one batch with different specs: the second item is ALREADY_EXISTS on client_id
    naming the first job; the same spec twice stays a duplicate."""
    pool.cluster("a", [node("a", "n1")])
    out = pool.jobs.submit(
        "公安局", [spec("x", cpu=1000), spec("x", cpu=2000), spec("x", cpu=1000)]
    )
    assert out[0].error is None and not out[0].duplicate
    error = out[1].error
    assert isinstance(error, AlreadyExists) and error.field == "client_id"
    assert error.message == (
        f"client_id 'x' was already used for a different spec (job {out[0].job_id}); "
        "use a new client_id"
    )
    assert not out[1].job_id and not out[1].duplicate
    assert out[2].duplicate and out[2].job_id == out[0].job_id
    assert len(pool.jobs.page("公安局")) == 1


def test_resubmitting_a_client_id_with_another_spec_later_is_already_exists(pool: Pool) -> None:
    """A later request reusing a client_id for a different command is refused; the original job
    is untouched; the identical spec (defaults spelled out or not) is a duplicate."""
    pool.cluster("a", [node("a", "n1")])
    [first] = pool.jobs.submit("公安局", [spec("y")])
    [other] = pool.jobs.submit("公安局", [replace(spec("y"), command=("false",))])
    assert isinstance(other.error, AlreadyExists) and first.job_id in other.error.message
    [same] = pool.jobs.submit("公安局", [spec("y", job_set="default", replicas=1)])
    assert same.duplicate and same.job_id == first.job_id
    [view] = pool.jobs.page("公安局")
    assert view.job.spec.command == ("true",)
    # Another department may use the same client_id for anything.
    [elsewhere] = pool.jobs.submit("交通局", [replace(spec("y"), command=("false",))])
    assert elsewhere.error is None and not elsewhere.duplicate


def test_jobs_recorded_before_the_digest_column_compare_by_their_stored_spec(pool: Pool) -> None:
    """A job row without a stored digest (recorded before the migration) still tells a
    duplicate from a reuse, by the digest of its stored spec."""
    pool.cluster("a", [node("a", "n1")])
    [first] = pool.jobs.submit("公安局", [spec("old", cpu=1500)])
    with pool.store.unit() as tx:
        tx.session.execute(text("UPDATE job SET spec_digest = ''"))
    [same] = pool.jobs.submit("公安局", [spec("old", cpu=1500)])
    [other] = pool.jobs.submit("公安局", [spec("old", cpu=500)])
    assert same.duplicate and same.job_id == first.job_id
    assert isinstance(other.error, AlreadyExists)
