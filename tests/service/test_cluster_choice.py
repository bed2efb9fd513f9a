"""Through the real use cases and cycle: tainted nodes take only tolerating jobs, cluster
affinity confines a job, and an ordered cluster preference is followed while it has room and
overruled, saying why, when it has none."""

from __future__ import annotations

from scheduler.domain import reasons
from scheduler.domain.models import Constraints, Node
from scheduler.domain.states import JobState, RunState
from scheduler.domain.taints import EXISTS, Taint, Toleration
from scheduler.service.agent_sync import RunReport
from tests.service.conftest import Pool, node, spec

GPU_ONLY = Taint("dedicated", "gpu", "NoSchedule")


def _job(pool: Pool, job_id: str) -> tuple[JobState, str, str]:
    with pool.store.unit(write=False) as tx:
        job = tx.jobs.get(job_id)
    return job.state, job.cluster, job.message


def _start(pool: Pool, cluster: str, held: dict[str, list[RunReport]]) -> None:
    """Starts the cluster's new leases, reporting the runs it already holds (an agent that
    leaves a run out of its report has lost it)."""
    running = held.setdefault(cluster, [])
    reply = pool.sync(cluster, running)
    running.extend(RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start)
    pool.sync(cluster, running)


def test_a_tainted_node_takes_only_tolerating_jobs(pool: Pool) -> None:
    """The cheap cluster's only node is tainted: a plain job goes to the dear cluster, a
    tolerating one to the cheap; ExplainJob of a plain job names the taint (TAINTED)."""
    tainted = Node("cheap", "g0", {"cpu": 8000, "memory": 8192}, {}, (GPU_ONLY,))
    pool.cluster("cheap", [tainted], price={"cpu": 0.01})
    pool.cluster("dear", [node("dear", "n0")], price={"cpu": 1.0})
    tolerates = Constraints(tolerations=(Toleration("dedicated", EXISTS),))
    plain, tolerating = pool.submit(spec("plain"), spec("tol", constraints=tolerates))
    pool.cycle.run_once()
    assert _job(pool, plain)[:2] == (JobState.LEASED, "dear")
    assert _job(pool, tolerating)[:2] == (JobState.LEASED, "cheap")
    [verdict] = [v for v in pool.jobs.explain("公安局", plain).clusters if v.cluster == "cheap"]
    assert verdict.reason == reasons.TAINTED and "dedicated=gpu:NoSchedule" in verdict.message


def test_a_job_tainted_out_of_every_cluster_is_rejected_at_submit(pool: Pool) -> None:
    """When every node is tainted against it the job is REJECTED, naming the taint."""
    pool.cluster("cheap", [Node("cheap", "g0", {"cpu": 8000, "memory": 8192}, {}, (GPU_ONLY,))])
    [out] = pool.jobs.submit("公安局", [spec("plain")])
    assert out.state is JobState.REJECTED and "dedicated=gpu:NoSchedule" in out.message


def test_cluster_affinity_confines_the_job(pool: Pool) -> None:
    """A job naming the dear cluster, or selecting it by its label, runs there though the cheap
    one has room; one naming only an unregistered cluster is rejected; ExplainJob says
    CLUSTER_AFFINITY for the others."""
    pool.cluster("cheap", [node("cheap", "n0")], price={"cpu": 0.01})
    pool.cluster("dear", [node("dear", "n0")], price={"cpu": 1.0}, labels={"owner": "交通局"})
    by_label = Constraints(cluster_selector={"owner": "交通局"})
    confined, labelled = pool.submit(
        spec("confined", constraints=Constraints(clusters=("dear",))),
        spec("labelled", constraints=by_label),
    )
    pool.cycle.run_once()
    assert _job(pool, confined)[:2] == (JobState.LEASED, "dear")
    assert _job(pool, labelled)[:2] == (JobState.LEASED, "dear")
    [nowhere] = pool.jobs.submit("公安局", [spec("x", constraints=Constraints(clusters=("zz",)))])
    assert nowhere.state is JobState.REJECTED and nowhere.reason == reasons.NO_ELIGIBLE_CLUSTER
    verdicts = pool.jobs.explain("公安局", nowhere.job_id).clusters
    assert {v.reason for v in verdicts} == {reasons.CLUSTER_AFFINITY}


def test_preferred_clusters_in_order_then_overflow(pool: Pool) -> None:
    """Preferring b then a over the cheapest c: the first job goes to b, the next (b full) to
    a, the third (both full) to c; the second and third say the preference was overruled and
    why, in their message and in ExplainJob."""
    for name, price in (("a", 0.5), ("b", 1.0), ("c", 0.01)):
        pool.cluster(name, [node(name, "n0", cpu=4000)], price={"cpu": price})
    prefer = Constraints(preferred_clusters=("b", "a"))
    placed, ids = [], []
    held: dict[str, list[RunReport]] = {}
    for i in range(3):
        [job] = pool.submit(spec(f"p{i}", cpu=4000, constraints=prefer))
        pool.cycle.run_once()
        placed.append(_job(pool, job))
        ids.append(job)
        for name in ("a", "b", "c"):
            _start(pool, name, held)
    assert [cluster for _, cluster, _ in placed] == ["b", "a", "c"]
    assert "overruled" not in placed[0][2]
    assert "cluster preference b, a overruled: b: room for 0 of 1" in placed[1][2]
    assert "b: room for 0 of 1" in placed[2][2] and "a: room for 0 of 1" in placed[2][2]
    assert "cluster preference b, a overruled" in pool.jobs.explain("公安局", ids[2]).message
