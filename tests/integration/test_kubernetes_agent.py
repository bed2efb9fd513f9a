"""The real scheduler and a real `suanchou agent --executor kubernetes` process, the agent's
Kubernetes client talking to a loopback API server where the test plays the kubelet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import Agent, Pool, md
from tests.kube_api import KubeApiServer, node


@pytest.fixture
def patient_pool(tmp_path: Path) -> Iterator[Pool]:
    """A scheduler whose lease timeout outlasts an agent restart (the client loads slowly)."""
    settings = SchedulerSettings(sync_interval_s=0.2, lease_timeout_s=60.0, cycle_interval_s=0.2)
    pool = Pool(tmp=tmp_path, db_url=f"sqlite:///{tmp_path / 'suanchou.db'}", settings=settings)
    pool.start()
    yield pool
    for agent in pool.agents:
        agent.stop()
    pool.stop()


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    server = KubeApiServer()
    server.nodes = [node("k1", cpu="4", memory="8Gi", labels={"topology.kubernetes.io/zone": "a"})]
    yield server
    server.stop()


def start_agent(pool: Pool, kube: KubeApiServer, cluster: str) -> Agent:
    agent = pool.spawn_agent(
        cluster,
        "--executor",
        "kubernetes",
        "--kubeconfig",
        str(kube.kubeconfig(pool.tmp)),
        "--namespace",
        "jobs",
        "--image",
        "python:3.12-slim",
        "--agent-name",
        cluster,
        kill_grace=3,
    )
    pool.wait_for(lambda: pool.cluster_info(cluster).node_count > 0, 30, "the k8s nodes")
    return agent


def job(client_id: str, **kw: Any) -> types_pb2.JobSpec:
    return types_pb2.JobSpec(
        client_id=client_id,
        name=client_id,
        resources=types_pb2.Resources(quantities={"cpu": 1000, "memory": 512}),
        command=["python3", "-c", "print('hello')"],
        env={"GREETING": "ni hao"},
        **kw,
    )


def pod_for(pool: Pool, kube: KubeApiServer, job_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        with kube.lock:
            for pod in kube.pods.values():
                if pod["metadata"]["annotations"]["suanchou.io/job-id"] == job_id:
                    return pod
        return None

    pool.wait_for(lambda: find() is not None, 30, f"a pod for {job_id}")
    found = find()
    assert found is not None
    return found


def finish(kube: KubeApiServer, pod: dict[str, Any], code: int) -> None:
    state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
    kube.set_status(
        pod["metadata"]["name"],
        {
            "phase": "Succeeded" if code == 0 else "Failed",
            "containerStatuses": [{"name": "replica", "state": state}],
        },
    )


def test_a_job_runs_as_a_pod_on_the_leased_node(kube: KubeApiServer, pool: Pool) -> None:
    """Submit over gRPC: the agent creates a schema-valid pod on k1; the pod's exit ends the job."""
    pool.department("dept")
    pool.cluster("k8s", [], start_agent=False)
    start_agent(pool, kube, "k8s")
    (result,) = pool.submit("dept", job("one", image="registry.gov.cn/traffic/report:1.4"))
    pod = pod_for(pool, kube, result.job_id)
    assert pod["spec"]["nodeName"] == "k1"
    assert pod["spec"]["containers"][0]["image"] == "registry.gov.cn/traffic/report:1.4"
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1000m",
        "memory": "512Mi",
    }
    kube.set_status(pod["metadata"]["name"], {"phase": "Running"})
    finish(kube, pod, 3)
    done = pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_FAILED}, 60)
    assert done.state == types_pb2.JOB_STATE_FAILED
    agent_log = pool.agents[0].log.read_text()
    assert "ni hao" not in agent_log


def test_cancel_deletes_the_pod(kube: KubeApiServer, pool: Pool) -> None:
    """CancelJobs reaches the cluster as a DELETE of the pod with the kill grace."""
    pool.department("dept")
    pool.cluster("k8s", [], start_agent=False)
    start_agent(pool, kube, "k8s")
    (result,) = pool.submit("dept", job("to-cancel"))
    pod = pod_for(pool, kube, result.job_id)
    kube.set_status(pod["metadata"]["name"], {"phase": "Running"})
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_RUNNING}, 30)
    pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[result.job_id]), metadata=md(pool.tokens["dept"])
    )
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_CANCELLED}, 30)
    pool.wait_for(lambda: bool(kube.calls("DELETE", pod["metadata"]["name"])), 30, "the DELETE")
    assert kube.calls("DELETE", pod["metadata"]["name"])[0].query["gracePeriodSeconds"] == ["3"]


def test_agent_killed_and_restarted_adopts_its_pod(kube: KubeApiServer, patient_pool: Pool) -> None:
    """kill -9 of the agent leaves the pod running; the new agent adopts it, never recreates it."""
    pool = patient_pool
    pool.department("dept")
    pool.cluster("k8s", [], start_agent=False)
    first = start_agent(pool, kube, "k8s")
    (result,) = pool.submit("dept", job("survivor"))
    pod = pod_for(pool, kube, result.job_id)
    kube.set_status(pod["metadata"]["name"], {"phase": "Running"})
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_RUNNING}, 30)
    first.kill()
    start_agent(pool, kube, "k8s")
    finish(kube, pod, 0)
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_SUCCEEDED}, 60)
    assert len(kube.calls("POST", "/pods")) == 1
    assert kube.calls("DELETE") == []


def test_a_shortened_limit_patches_the_pods_deadline(kube: KubeApiServer, pool: Pool) -> None:
    """UpdateJob on a running job reaches the cluster as a PATCH of the pod's
    activeDeadlineSeconds; a longer one afterwards is not sent (Kubernetes would refuse it)."""
    pool.department("dept")
    pool.cluster("k8s", [], start_agent=False)
    start_agent(pool, kube, "k8s")
    (result,) = pool.submit("dept", job("limited", max_runtime_seconds=600))
    pod = pod_for(pool, kube, result.job_id)
    name = pod["metadata"]["name"]
    assert pod["spec"]["activeDeadlineSeconds"] == 600
    kube.set_status(name, {"phase": "Running"})
    pool.wait_state("dept", result.job_id, {types_pb2.JOB_STATE_RUNNING}, 30)

    def update(seconds: int) -> None:
        pool.jobs.UpdateJob(
            jobs_pb2.UpdateJobRequest(job_id=result.job_id, max_runtime_seconds=seconds),
            metadata=md(pool.tokens["dept"]),
        )

    update(120)
    pool.wait_for(lambda: bool(kube.calls("PATCH", name)), 30, "the PATCH")
    update(900)
    pool.wait_for(lambda: "pod_deadline_not_extended" in pool.agents[0].log.read_text(), 30,
                  "the agent to decline the longer limit")  # fmt: skip
    assert [r.body for r in kube.calls("PATCH", name)] == [{"spec": {"activeDeadlineSeconds": 120}}]
    assert kube.pod(name)["spec"]["activeDeadlineSeconds"] == 120
