"""What the agent reports about itself reaches admins, and a lost cluster's runs say what
really happened."""

from __future__ import annotations

from scheduler.domain.models import Run
from scheduler.domain.states import RunState
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec


def test_agent_error_is_kept_on_the_cluster_and_cleared_when_fixed(pool: Pool) -> None:
    """SyncRequest.last_error is stored (cut to 1,024 characters) and shown on the cluster until
    the agent reports a clean exchange."""
    pool.cluster("a", [node("a", "n1")])
    nodes = [node("a", "n1")]
    pool.agents.sync("a", "agent-a", nodes, [], agent_error="RESOURCE_EXHAUSTED: " + "x" * 5000)
    error = pool.admin.get_cluster("a").cluster.agent_error
    assert error.startswith("RESOURCE_EXHAUSTED: xxx") and len(error) == 1024
    pool.agents.sync("a", "agent-a", nodes, [])
    assert pool.admin.get_cluster("a").cluster.agent_error == ""


def test_lost_runs_say_since_when_and_quote_the_agent_error(pool: Pool) -> None:
    """A run lost with its cluster names how long and since when the agent was silent, and
    quotes the start of what the agent last reported."""
    pool.cluster("a", [node("a", "n1")])
    [job_id] = pool.submit(spec("x"))
    pool.cycle.run_once()
    [run] = [lease.run.run_id for lease in pool.sync("a").start]
    last_sync = pool.clock.now()
    pool.agents.sync(
        "a",
        "agent-a",
        [node("a", "n1")],
        [RunReport(run, RunState.RUNNING)],
        agent_error="apply failed: " + "y" * 400,
    )
    pool.clock.advance(pool.settings.lease_timeout_s + 5)
    pool.cycle.run_once()
    lost = next(r for r in _runs(pool, job_id) if r.run_id == run)
    assert lost.state is RunState.LOST
    assert lost.message.startswith(
        f"cluster a lost: no sync from its agent for 15s since its last sync at "
        f"{last_sync:%Y-%m-%d %H:%M:%S}Z (lease timeout 10s); "
        "the agent last reported: 'apply failed: yyy"
    )
    assert "(414 chars)" in lost.message and len(lost.message) < 400


def _runs(pool: Pool, job_id: str) -> list[Run]:
    with pool.store.unit(write=False) as tx:
        return tx.runs.for_job(job_id)
