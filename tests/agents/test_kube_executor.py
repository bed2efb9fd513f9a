"""The Kubernetes executor's calls, made by the real client against a loopback API server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from agents.agent import Agent
from agents.capacity import NodeInfo, StaticCapacity
from agents.executor import Lease, RunPhase, RunStatus
from agents.journal import Journal
from agents.kube.api import PodApi
from agents.kube.executor import KubernetesExecutor
from agents.kube.manifest import Toleration, pod_name
from agents.taints import LeaseToleration
from tests.kube_api import KubeApiServer

RUN = "5b0e6f3a-0c1d-4b7a-9f8e-1a2b3c4d5e6f"
POD = pod_name(RUN)


def lease(run_id: str = RUN, **kwargs: Any) -> Lease:
    options: dict[str, Any] = {
        "job_id": "job-1",
        "command": ("sh", "-c", "echo hi"),
        "node": "n1",
        "env": {"TOKEN_FOR_JOB": "s3cret"},
        "resources": {"cpu": 500, "memory": 256},
    }
    options.update(kwargs)
    return Lease(run_id=run_id, **options)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def executor(pod_api: PodApi, clock: Clock, **kwargs: Any) -> KubernetesExecutor:
    options: dict[str, Any] = {
        "image": "busybox:1.37",
        "agent": "city",
        "kill_grace": 7,
        "poll_interval": 0.0,
        "clock": clock,
    }
    options.update(kwargs)
    return KubernetesExecutor(pod_api, **options)


def by_run(statuses: list[RunStatus]) -> dict[str, RunStatus]:
    return {s.run_id: s for s in statuses}


def running(code: int | None = None, reason: str = "Completed") -> dict[str, Any]:
    if code is None:
        return {
            "phase": "Running",
            "containerStatuses": [{"name": "replica", "state": {"running": {}}}],
        }
    state = {
        "terminated": {"exitCode": code, "reason": reason, "finishedAt": "2026-12-01T00:00:00Z"}
    }
    return {
        "phase": "Succeeded" if code == 0 else "Failed",
        "containerStatuses": [{"name": "replica", "state": state}],
    }


def test_start_posts_a_valid_pod_and_follows_it_to_success(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """POST to the namespace's pods (schema-valid body), then PENDING, RUNNING, SUCCEEDED once."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    (post,) = kube.calls("POST", "/api/v1/namespaces/jobs/pods")
    assert post.body is not None and post.body["spec"]["nodeName"] == "n1"
    assert by_run(ex.poll())[RUN].phase is RunPhase.PENDING
    kube.set_status(POD, running())
    assert by_run(ex.poll())[RUN].phase is RunPhase.RUNNING
    kube.set_status(POD, running(0))
    assert by_run(ex.poll())[RUN] == RunStatus(RUN, RunPhase.SUCCEEDED, 0, "")
    assert ex.poll() == []  # returned once, then forgotten
    selector = kube.calls("GET", "/api/v1/namespaces/jobs/pods")[0].query["labelSelector"]
    assert selector == ["app.kubernetes.io/managed-by=suanchou,suanchou.io/agent=city"]


def test_the_jobs_tolerations_reach_the_posted_pod(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A lease placed on a tainted node posts a pod carrying the agent's and the job's
    tolerations, so the kubelet's NoExecute taint manager lets it stay."""
    ex = executor(pod_api, clock, tolerations=[Toleration.parse("nvidia.com/gpu:NoSchedule")])
    ex.start(lease(tolerations=(LeaseToleration("dedicated", "Equal", "ai", "NoExecute"),)))
    (post,) = kube.calls("POST", "/api/v1/namespaces/jobs/pods")
    assert post.body is not None
    assert post.body["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ai", "effect": "NoExecute"},
    ]


def test_oom_kill_reaches_the_run_status(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """An OOMKilled container ends the run FAILED with exit 137 and the limit."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    kube.set_status(POD, running(137, "OOMKilled"))
    status = by_run(ex.poll())[RUN]
    assert (status.phase, status.exit_code) == (RunPhase.FAILED, 137)
    assert status.message == "OOMKilled: memory limit 256Mi exceeded"


def test_a_second_start_adopts_the_existing_pod(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A pod already there for the run (409) is adopted, not duplicated or failed."""
    executor(pod_api, clock).start(lease())
    fresh = executor(pod_api, clock)
    fresh.start(lease())
    assert len(kube.calls("POST")) == 2 and len(kube.pods) == 1
    kube.set_status(POD, running())
    assert by_run(fresh.poll())[RUN].phase is RunPhase.RUNNING


def test_cancel_deletes_the_pod_with_the_grace_period(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """Cancel sends DELETE with gracePeriodSeconds; the run ends CANCELLED once the pod is gone."""
    kube.delete_at_once = False
    ex = executor(pod_api, clock)
    ex.start(lease())
    kube.set_status(POD, running())
    ex.poll()
    ex.cancel(RUN)
    (delete,) = kube.calls("DELETE", f"/pods/{POD}")
    assert delete.query["gracePeriodSeconds"] == ["7"]
    assert by_run(ex.poll())[RUN].phase is RunPhase.RUNNING  # terminating within its grace
    with kube.lock:
        del kube.pods[("jobs", POD)]
    assert by_run(ex.poll())[RUN] == RunStatus(RUN, RunPhase.CANCELLED, None, "cancelled")


def test_image_pull_errors_fail_after_the_grace_and_free_the_node(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """ImagePullBackOff past pull_grace fails the run with the reason and deletes the pod."""
    ex = executor(pod_api, clock, pull_grace=60)
    ex.start(lease())
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": 'pulling "busybox:1.37"'}}
    kube.set_status(
        POD, {"phase": "Pending", "containerStatuses": [{"name": "replica", "state": waiting}]}
    )
    assert by_run(ex.poll())[RUN].phase is RunPhase.PENDING
    clock.now += 61
    status = by_run(ex.poll())[RUN]
    assert status.phase is RunPhase.FAILED
    assert status.message == 'image pull failed: ImagePullBackOff: pulling "busybox:1.37"'
    assert kube.calls("DELETE", f"/pods/{POD}")[0].query["gracePeriodSeconds"] == ["0"]


def test_config_errors_fail_at_once(kube: KubeApiServer, pod_api: PodApi, clock: Clock) -> None:
    """CreateContainerConfigError fails the run at the next poll."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": "no such user"}}
    kube.set_status(
        POD, {"phase": "Pending", "containerStatuses": [{"name": "replica", "state": waiting}]}
    )
    status = by_run(ex.poll())[RUN]
    assert status.phase is RunPhase.FAILED
    assert "CreateContainerConfigError: no such user" in status.message


def test_evicted_pod_is_lost(kube: KubeApiServer, pod_api: PodApi, clock: Clock) -> None:
    """Eviction by the kubelet is reported LOST so the job is requeued."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    kube.set_status(POD, {"phase": "Failed", "reason": "Evicted", "message": "low on memory"})
    assert by_run(ex.poll())[RUN].phase is RunPhase.LOST


def test_pod_deleted_behind_our_back_is_lost(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A pod someone else deleted ends the run LOST after a direct read confirms it."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    with kube.lock:
        del kube.pods[("jobs", POD)]
    assert by_run(ex.poll())[RUN] == RunStatus(
        RUN, RunPhase.LOST, None, "the pod was deleted outside suanchou"
    )


def test_refused_pod_fails_the_run_and_transient_errors_retry(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A 403 fails the run with the server's reason; a 500 is retried at the next poll."""
    ex = executor(pod_api, clock)
    kube.fail.append(("POST", "/pods", 403))
    ex.start(lease("r-forbidden"))
    status = by_run(ex.poll())["r-forbidden"]
    assert status.phase is RunPhase.FAILED and "refused the pod: 403" in status.message
    kube.fail.append(("POST", "/pods", 500))
    ex.start(lease())
    assert POD not in {name for _, name in kube.pods}
    assert by_run(ex.poll())[RUN].phase is RunPhase.PENDING
    assert ("jobs", POD) in kube.pods


def test_read_output_serves_the_pod_log_as_stdout(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """stdout is the pod log from an offset, stderr is empty, an unknown run is None."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    assert ex.read_output(RUN, "stdout", 0, 100) == b""  # container not started yet
    kube.set_status(POD, running())
    kube.logs[POD] = b"line one\nline two\n"
    assert ex.read_output(RUN, "stdout", 5, 8) == b"one\nline"
    assert kube.calls("GET", f"/pods/{POD}/log")[-1].query["limitBytes"] == ["13"]
    assert ex.read_output(RUN, "stderr", 0, 100) == b""
    assert ex.read_output("no-such-run", "stdout", 0, 100) is None
    kube.set_status(POD, running(0))
    ex.poll()  # finished and forgotten; the pod stays for its log
    assert ex.read_output(RUN, "stdout", 0, 4) == b"line"


def test_finished_pods_are_deleted_after_retention(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A finished pod no run holds is deleted once `retention` has passed since it ended."""
    ended = datetime(2026, 12, 1, tzinfo=UTC).timestamp()  # the finishedAt of running(0)
    wall = [ended + 10]
    ex = executor(pod_api, clock, retention=3600, wall_clock=lambda: wall[0])
    ex.start(lease())
    kube.set_status(POD, running(0))
    ex.poll()
    ex.poll()
    assert ("jobs", POD) in kube.pods
    wall[0] = ended + 3601
    ex.poll()
    assert ("jobs", POD) not in kube.pods


def test_restarted_agent_adopts_its_pods_instead_of_losing_them(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock, tmp_path: Path
) -> None:
    """After a crash, runs whose pods exist are held again; a run without a pod is LOST."""
    journal = Journal(tmp_path)
    journal.open()
    first = executor(pod_api, clock)
    for run_id in (RUN, "never-created"):
        journal.started(run_id, "job-1")
    journal.sync()
    first.start(lease())
    journal.close()  # the agent dies; the pod runs on
    kube.set_status(POD, running())

    journal = Journal(tmp_path)
    journal.open()
    second = executor(pod_api, clock)
    nodes = StaticCapacity([NodeInfo("n1", {"cpu": 1000, "memory": 1024})])
    agent = Agent(client=None, capacity=nodes, executor=second, journal=journal)
    runs = agent.runs()
    assert runs["never-created"].phase is RunPhase.LOST
    assert runs[RUN].phase is RunPhase.RUNNING  # held again, as the pod says
    kube.set_status(POD, running(0))
    agent.poll()
    assert agent.runs()[RUN].phase is RunPhase.SUCCEEDED
    assert journal.records[RUN].final is not None  # its end is journalled like any other
    assert len(kube.calls("POST")) == 1  # never created twice
    journal.close()


def test_shutdown_deletes_every_live_pod(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """Shutdown deletes the pods (they must not outlive an agent that reports them gone)."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    ex.start(lease("second-run"))
    statuses = by_run(ex.shutdown())
    assert {s.phase for s in statuses.values()} == {RunPhase.CANCELLED}
    assert kube.pods == {}


def test_the_jobs_env_reaches_the_pod_but_never_a_log_line(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """An env value is in the pod spec for the job, and in no log line of the executor."""
    with structlog.testing.capture_logs() as logs:
        ex = executor(pod_api, clock)
        kube.fail.append(("POST", "/pods", 500))
        ex.start(lease())
        ex.poll()
        ex.cancel(RUN)
        ex.poll()
    assert {e["event"] for e in logs} >= {"pod_create_retrying", "pod_created"}
    assert "s3cret" not in repr(logs)
    assert kube.calls("POST")[-1].body["spec"]["containers"][0]["env"][0] == {
        "name": "TOKEN_FOR_JOB",
        "value": "s3cret",
    }


def test_start_never_raises_when_reading_the_existing_pod_fails(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A 409 followed by a failing read leaves the run pending; the next poll adopts the pod."""
    executor(pod_api, clock).start(lease())
    fresh = executor(pod_api, clock)
    kube.fail.append(("GET", f"/pods/{POD}", 503))
    fresh.start(lease())
    assert by_run(fresh.poll())[RUN].phase is RunPhase.PENDING
    kube.set_status(POD, running())
    assert by_run(fresh.poll())[RUN].phase is RunPhase.RUNNING
    assert len(kube.pods) == 1


def test_read_output_is_bounded(kube: KubeApiServer, pod_api: PodApi, clock: Clock) -> None:
    """Negative offsets and offsets past the served prefix read nothing; a read is at most 1 MiB."""
    ex = executor(pod_api, clock)
    ex.start(lease())
    kube.set_status(POD, running())
    kube.logs[POD] = b"x" * (2 * 1024 * 1024)
    assert ex.read_output(RUN, "stdout", -1, 10) == b""
    assert ex.read_output(RUN, "stdout", 64 * 1024 * 1024, 10) == b""
    assert len(ex.read_output(RUN, "stdout", 0, 10**9) or b"") == 1024 * 1024
    with pytest.raises(ValueError, match="stdout or stderr"):
        ex.read_output(RUN, "stdin", 0, 10)


def test_the_jobs_image_wins_and_a_run_without_any_image_fails(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """JobSpec.image is the pod's image; with neither it nor --image the run fails clearly."""
    ex = executor(pod_api, clock)
    ex.start(lease(image="registry.gov.cn/traffic/report:1.4"))
    assert kube.pod(POD)["spec"]["containers"][0]["image"] == "registry.gov.cn/traffic/report:1.4"
    bare = executor(pod_api, clock, image="")
    bare.start(lease("no-image"))
    assert by_run(bare.poll())["no-image"] == RunStatus(
        "no-image", RunPhase.FAILED, None, "the job names no image and the agent has no --image"
    )
    assert len(kube.calls("POST")) == 1


def test_a_gpu_share_is_refused_and_whole_gpus_are_extended_resources(
    kube: KubeApiServer, pod_api: PodApi, clock: Clock
) -> None:
    """A lease asking a share of one GPU fails at once, saying why, and creates no pod; whole
    GPUs go to requests and limits as the extended resource (the kubelet picks the devices)."""
    ex = executor(pod_api, clock)
    ex.start(lease("share", shares={"nvidia.com/gpu": 250}, devices=(0,)))
    status = by_run(ex.poll())["share"]
    assert status.phase is RunPhase.FAILED
    assert "resources.nvidia.com/gpu: a share of one device cannot run on Kubernetes" in (
        status.message
    )
    assert kube.calls("POST") == []
    whole = {"cpu": 500, "memory": 256, "nvidia.com/gpu": 2}
    ex.start(lease(resources=whole, devices=(0, 1)))
    limits = kube.pod(POD)["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "2"
