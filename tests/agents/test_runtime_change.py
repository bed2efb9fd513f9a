"""A live run's max runtime changed by the scheduler: the local executor moves its deadline,
the Kubernetes executor patches the pod's activeDeadlineSeconds where Kubernetes allows it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import structlog
from agent_helpers import python_cmd
from test_agent_executor import FakeClock, finish, lease
from test_kube_executor import POD, RUN, Clock, by_run, executor, running
from test_kube_executor import lease as kube_lease

from agents.executor import Failure, LocalExecutor, RunPhase, RunStatus
from agents.kube.api import PodApi
from tests.kube_api import KubeApiServer

SLEEP = python_cmd("import time; time.sleep(60)")


@pytest.fixture
def kclock() -> Clock:
    return Clock()


def test_a_shortened_limit_stops_the_run_with_the_new_limit_named(tmp_path: Path) -> None:
    """A limit lowered below the time already run stops the replica at the next poll, FAILED
    with the new limit in the message."""
    clock = FakeClock()
    ex = LocalExecutor(tmp_path, clock=clock)
    ex.start(lease("r1", SLEEP, max_runtime_seconds=600))
    clock.now += 20
    assert ex.poll() == [RunStatus("r1", RunPhase.RUNNING)]
    ex.set_max_runtime("r1", 10)
    status = finish(ex, "r1")
    assert status == RunStatus(
        "r1", RunPhase.FAILED, 128 + signal.SIGTERM, "max runtime 10s exceeded", Failure.TIMEOUT
    )


def test_a_lengthened_limit_lets_the_run_pass_the_old_one(tmp_path: Path) -> None:
    """A limit raised (or set where there was none) moves the deadline from the run's start."""
    clock = FakeClock()
    ex = LocalExecutor(tmp_path, clock=clock)
    ex.start(lease("r1", SLEEP, max_runtime_seconds=30))
    ex.start(lease("r2", SLEEP))
    ex.set_max_runtime("r1", 120)
    ex.set_max_runtime("r2", 50)
    ex.set_max_runtime("unknown", 5)  # ignored
    clock.now += 40
    assert {s.run_id: s.phase for s in ex.poll()} == {
        "r1": RunPhase.RUNNING,
        "r2": RunPhase.RUNNING,
    }
    clock.now += 10
    assert finish(ex, "r2").message == "max runtime 50s exceeded"
    clock.now += 70
    assert finish(ex, "r1").message == "max runtime 120s exceeded"


def test_kubernetes_shortens_a_pods_deadline_by_merge_patch(
    kube: KubeApiServer, pod_api: PodApi, kclock: Clock
) -> None:
    """A shorter limit is a PATCH of spec.activeDeadlineSeconds and nothing else; the pod
    then holds the new deadline."""
    ex = executor(pod_api, kclock)
    ex.start(kube_lease(max_runtime_seconds=600))
    kube.set_status(POD, running())
    assert by_run(ex.poll())[RUN].phase is RunPhase.RUNNING
    ex.set_max_runtime(RUN, 60)
    (patch,) = kube.calls("PATCH", f"/pods/{POD}")
    assert patch.body == {"spec": {"activeDeadlineSeconds": 60}}
    assert kube.pod(POD)["spec"]["activeDeadlineSeconds"] == 60


def test_kubernetes_cannot_lengthen_a_created_pods_deadline(
    kube: KubeApiServer, pod_api: PodApi, kclock: Clock
) -> None:
    """Kubernetes refuses raising a live pod's activeDeadlineSeconds: no call is made, the
    refusal is logged and the pod keeps its deadline; a pod not yet created gets the new one."""
    ex = executor(pod_api, kclock)
    ex.start(kube_lease(max_runtime_seconds=60))
    with structlog.testing.capture_logs() as logs:
        ex.set_max_runtime(RUN, 600)
    assert kube.calls("PATCH") == []
    assert kube.pod(POD)["spec"]["activeDeadlineSeconds"] == 60
    assert [e["event"] for e in logs] == ["pod_deadline_not_extended"]
    kube.fail.append(("POST", "/pods", 503))  # the next pod is not created at once
    other = "6c1f7a4b-1d2e-4c8b-8a9f-2b3c4d5e6f70"
    ex.start(kube_lease(run_id=other, max_runtime_seconds=60))
    ex.set_max_runtime(other, 900)
    ex.poll()  # retried at the next list
    created = [r for r in kube.calls("POST") if r.body and other in r.body["metadata"]["name"]]
    assert created[-1].body is not None
    assert created[-1].body["spec"]["activeDeadlineSeconds"] == 900
