"""A job preferring 信创 lands on a 信创 cluster when one has room, elsewhere when none has, and
then says the preference was overruled and why."""

from __future__ import annotations

from scheduler.domain.models import Constraints
from scheduler.domain.states import JobState, RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec

PREFER = Constraints(xinchuang_preferred=True)


def _placed(pool: Pool, job_id: str) -> tuple[str, str]:
    with pool.store.unit(write=False) as tx:
        job = tx.jobs.get(job_id)
    assert job.state is JobState.LEASED, job.message
    return job.cluster, job.message


def test_prefer_takes_xinchuang_when_it_has_room_and_explains_when_overruled(pool: Pool) -> None:
    """The 信创 cluster costs ten times more: a plain job goes to the cheap one, a preferring
    job to 信创; once 信创 is full, the next preferring job runs on the cheap cluster and its
    message and ExplainJob say the preference was overruled for lack of 信创 room."""
    pool.cluster("xc", [node("xc", "n1", cpu=4000)], xinchuang=True, price={"cpu": 0.1})
    pool.cluster("pub", [node("pub", "n1", cpu=8000)], price={"cpu": 0.01})
    plain, first = pool.submit(spec("plain", cpu=2000), spec("first", cpu=4000, constraints=PREFER))
    pool.cycle.run_once()
    assert _placed(pool, plain)[0] == "pub"
    cluster, message = _placed(pool, first)
    assert cluster == "xc" and "overruled" not in message
    for name in ("xc", "pub"):
        reply = pool.sync(name)
        pool.sync(name, [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])

    [second] = pool.submit(spec("second", cpu=2000, constraints=PREFER))
    pool.cycle.run_once()
    cluster, message = _placed(pool, second)
    assert cluster == "pub"
    assert (
        "信创 preferred but overruled: no eligible 信创 capacity free (xc: room for 0 of 1"
        in message
    )
    assert "信创 preferred but overruled" in pool.jobs.explain("公安局", second).message
