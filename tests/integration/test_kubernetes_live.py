"""The full path on a real cluster: real scheduler, real agent process, real Kubernetes.

Runs only when KUBECONFIG names a cluster the test may create pods in (kind or minikube, see
README "Kubernetes"), and never under CI=true: no Kubernetes API server can run on the machines
this project is built on, so this module has not been run there. Optional settings:
SUANCHOU_K8S_NAMESPACE (default suanchou-live, created if missing) and SUANCHOU_K8S_IMAGE
(default busybox:1.37; it must have `sh`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG") or os.environ.get("CI") == "true",
        reason="needs a Kubernetes cluster in KUBECONFIG (never under CI: none exists there)",
    ),
]

from protos.suanchou.v1 import jobs_pb2, types_pb2  # noqa: E402
from scheduler.service.settings import SchedulerSettings  # noqa: E402
from tests.integration.conftest import REPO, Agent, Pool, md  # noqa: E402

NAMESPACE = os.environ.get("SUANCHOU_K8S_NAMESPACE", "suanchou-live")
IMAGE = os.environ.get("SUANCHOU_K8S_IMAGE", "busybox:1.37")
FINAL = {types_pb2.JOB_STATE_SUCCEEDED, types_pb2.JOB_STATE_FAILED, types_pb2.JOB_STATE_CANCELLED}


@pytest.fixture
def pods() -> Any:
    """The test's own client on the namespace (to read pod lists and logs); creates it."""
    from kubernetes import client

    from agents.kube.api import PodApi, connect

    api = connect(os.environ["KUBECONFIG"])
    core = client.CoreV1Api(api)
    if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    return PodApi(api, NAMESPACE)


@pytest.fixture
def live_pool(tmp_path: Path, pods: Any) -> Iterator[Pool]:
    settings = SchedulerSettings(sync_interval_s=0.5, lease_timeout_s=60.0, cycle_interval_s=0.5)
    pool = Pool(tmp=tmp_path, db_url=f"sqlite:///{tmp_path / 'suanchou.db'}", settings=settings)
    pool.start()
    pool.department("dept")
    pool.cluster("live", [], start_agent=False)
    yield pool
    for agent in pool.agents:
        agent.stop()
    pool.stop()


def start_agent(pool: Pool) -> Agent:
    log = pool.tmp / f"agent-live-{len(pool.agents)}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agents",
                "--scheduler",
                pool.address,
                "--executor",
                "kubernetes",
                "--kubeconfig",
                os.environ["KUBECONFIG"],
                "--namespace",
                NAMESPACE,
                "--image",
                IMAGE,
                "--agent-name",
                "live-test",
                "--workdir",
                str(pool.tmp / "work-live"),
                "--kill-grace",
                "5",
            ],
            env=dict(os.environ, SUANCHOU_AGENT_TOKEN=pool.tokens["live"]),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    agent = Agent("live", proc, log)
    pool.agents.append(agent)
    pool.wait_for(lambda: pool.cluster_info("live").node_count > 0, 60, "the cluster's nodes")
    return agent


def shell_job(client_id: str, script: str) -> types_pb2.JobSpec:
    return types_pb2.JobSpec(
        client_id=client_id,
        name=client_id,
        resources=types_pb2.Resources(quantities={"cpu": 100, "memory": 64}),
        command=["sh", "-c", script],
        env={"GREETING": "ni-hao"},
    )


def test_jobs_run_fail_and_cancel_on_a_real_cluster(live_pool: Pool, pods: Any) -> None:
    """Exit 0 succeeds with its output in the pod log, exit 3 fails, a cancel deletes the pod."""
    pool = live_pool
    start_agent(pool)
    ok, bad, slow = pool.submit(
        "dept",
        shell_job("live-ok", 'echo "$GREETING from replica $SUANCHOU_REPLICA"'),
        shell_job("live-bad", "exit 3"),
        shell_job("live-slow", "sleep 600"),
    )
    done = pool.wait_state("dept", ok.job_id, FINAL, 300)
    assert done.state == types_pb2.JOB_STATE_SUCCEEDED
    failed = pool.wait_state("dept", bad.job_id, FINAL, 300)
    assert failed.state == types_pb2.JOB_STATE_FAILED
    pool.wait_state("dept", slow.job_id, {types_pb2.JOB_STATE_RUNNING}, 300)
    pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[slow.job_id]), metadata=md(pool.tokens["dept"])
    )
    pods = pods.list_pods("suanchou.io/agent=live-test")
    logs = [pods.pod_log(p["metadata"]["name"], 4096) for p in pods]
    assert any(log and b"ni-hao from replica 0" in log for log in logs)
    pool.wait_for(
        lambda: (
            not any(
                p["metadata"]["annotations"]["suanchou.io/job-id"] == slow.job_id
                for p in pods.list_pods("suanchou.io/agent=live-test")
            )
        ),
        60,
        "the cancelled pod to be deleted",
    )


def test_a_killed_agent_adopts_its_running_pod(live_pool: Pool) -> None:
    """kill -9 of the agent: the pod keeps running and the restarted agent reports its end."""
    pool = live_pool
    first = start_agent(pool)
    (job,) = pool.submit("dept", shell_job("live-survivor", "sleep 20; echo done"))
    pool.wait_state("dept", job.job_id, {types_pb2.JOB_STATE_RUNNING}, 300)
    first.kill()
    start_agent(pool)
    done = pool.wait_state("dept", job.job_id, FINAL, 300)
    assert done.state == types_pb2.JOB_STATE_SUCCEEDED
    assert done.attempt == 1
