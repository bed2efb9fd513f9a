"""Taints, tolerations, cluster affinity and an ordered cluster preference end to end: a real
scheduler over gRPC and real local agent processes."""

from __future__ import annotations

from pathlib import Path

from protos.suanchou.v1 import jobs_pb2, types_pb2
from tests.integration.conftest import Pool, md, node, py_job

DONE = {types_pb2.JOB_STATE_SUCCEEDED, types_pb2.JOB_STATE_FAILED}
STARTED = {types_pb2.JOB_STATE_RUNNING, *DONE}


def _explain(pool: Pool, job_id: str) -> jobs_pb2.ExplainJobResponse:
    return pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=job_id), metadata=md(pool.tokens["公安局"])
    )


def _hold(client_id: str, release: Path, **kw: object) -> types_pb2.JobSpec:
    """A one-core job that runs until `release` exists (at most 60 s)."""
    code = (
        "import pathlib, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
    )
    return py_job(client_id, code, cpu=1000, **kw)


def test_tainted_nodes_take_tolerating_jobs_and_affinity_confines(pool: Pool) -> None:
    """The cheap cluster's agent taints its node (--taint, and the node file's own taint):
    GetCluster shows both; a plain job runs on the dear cluster, a tolerating one on the cheap;
    a job confined to the cheap cluster without tolerating is rejected naming the taint; a job
    confined to the dear cluster runs there though the cheap one tolerates it, and ExplainJob
    says CLUSTER_AFFINITY for the cheap one."""
    pool.department("公安局")
    tainted = node("t0", cpu=4)
    tainted["taints"] = ["spot:PreferNoSchedule"]
    pool.cluster("cheap", [tainted], start_agent=False, price={"cpu": 0.01})
    pool.spawn_agent(
        "cheap", "--nodes", str(pool.tmp / "cheap.yaml"), "--taint", "dedicated=ai:NoSchedule"
    )
    pool.wait_for(lambda: pool.cluster_info("cheap").node_count > 0, 20, "cheap's nodes")
    pool.cluster("dear", [node("d0", cpu=4)], price={"cpu": 1.0})
    (reported,) = pool.cluster_info("cheap").nodes
    assert [(t.key, t.value, t.effect) for t in reported.taints] == [
        ("dedicated", "ai", "NoSchedule"),
        ("spot", "", "PreferNoSchedule"),
    ]

    tolerate = types_pb2.Toleration(key="dedicated", operator="Equal", value="ai")
    plain, tolerating, confined, elsewhere = pool.submit(
        "公安局",
        py_job("plain", "print('plain')"),
        py_job(
            "tolerating", "print('t')", constraints=types_pb2.Constraints(tolerations=[tolerate])
        ),
        py_job("confined", "print('c')", constraints=types_pb2.Constraints(clusters=["cheap"])),
        py_job(
            "elsewhere",
            "print('e')",
            constraints=types_pb2.Constraints(clusters=["dear"], tolerations=[tolerate]),
        ),
    )
    assert confined.state == types_pb2.JOB_STATE_REJECTED
    assert "dedicated=ai:NoSchedule" in confined.message
    for result, cluster in ((plain, "dear"), (tolerating, "cheap"), (elsewhere, "dear")):
        job = pool.wait_state("公安局", result.job_id, DONE, timeout=60)
        assert (job.state, job.cluster) == (types_pb2.JOB_STATE_SUCCEEDED, cluster), job.message
    job = pool.get("公安局", elsewhere.job_id)
    assert list(job.spec.constraints.clusters) == ["dear"]
    assert [t.key for t in job.spec.constraints.tolerations] == ["dedicated"]
    verdicts = {v.cluster: v for v in _explain(pool, elsewhere.job_id).clusters}
    assert verdicts["cheap"].reason == "CLUSTER_AFFINITY"


def test_preferred_cluster_while_it_has_room_then_overflow(pool: Pool, tmp_path: Path) -> None:
    """Two one-core clusters, b dearer: a job preferring b runs on b; the next one, b being
    full, runs on a, and ExplainJob says the preference was overruled because b had no room;
    GetJob shows the preference back."""
    pool.department("公安局")
    pool.cluster("a", [node("a0", cpu=1)], price={"cpu": 0.01})
    pool.cluster("b", [node("b0", cpu=1)], price={"cpu": 1.0})
    release = tmp_path / "release"
    prefer = types_pb2.Constraints(preferred_clusters=["b"])
    (first,) = pool.submit("公安局", _hold("first", release, constraints=prefer))
    job = pool.wait_state("公安局", first.job_id, STARTED)
    assert job.cluster == "b" and "overruled" not in _explain(pool, first.job_id).message
    (second,) = pool.submit("公安局", _hold("second", release, constraints=prefer))
    job = pool.wait_state("公安局", second.job_id, STARTED)
    release.touch()
    assert job.cluster == "a"
    assert list(job.spec.constraints.preferred_clusters) == ["b"]
    message = _explain(pool, second.job_id).message
    assert "cluster preference b overruled: b: room for 0 of 1 replicas now" in message
    for result in (first, second):
        done = pool.wait_state("公安局", result.job_id, DONE, timeout=60)
        assert done.state == types_pb2.JOB_STATE_SUCCEEDED, done.message
