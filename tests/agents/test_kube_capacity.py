"""The Kubernetes capacity source, read through the real client from a loopback API server."""

from __future__ import annotations

from typing import Any

import pytest

from agents.kube.api import PodApi
from agents.kube.manifest import Toleration
from agents.kube.nodes import DEVICE_SHARES_LABEL, UNSCHEDULABLE_LABEL, KubernetesCapacity
from agents.taints import NodeTaint
from tests.kube_api import KubeApiServer, node


def other_pod(name: str, node_name: str, cpu: str, memory: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
        },
        "status": {"phase": "Running"},
    }


def capacity(pod_api: PodApi, **kwargs: Any) -> dict[str, Any]:
    source = KubernetesCapacity(pod_api, agent="city", **kwargs)
    return {n.name: n for n in source.nodes()}


def test_allocatable_minus_work_suanchou_did_not_place(
    kube: KubeApiServer, pod_api: PodApi
) -> None:
    """Other pods' requests are used capacity; the agent's own pods are not subtracted; the
    node says it takes no GPU shares."""
    kube.nodes = [node("n1", cpu="3920m", memory="16318164Ki", extra={"nvidia.com/gpu": "4"})]
    kube.add_pod(other_pod("dns", "n1", "100m", "70Mi"))
    kube.add_pod(
        other_pod(
            "ours",
            "n1",
            "2",
            "1Gi",
            **{"app.kubernetes.io/managed-by": "suanchou", "suanchou.io/agent": "city"},
        )
    )
    finished = other_pod("done", "n1", "1", "1Gi")
    finished["status"]["phase"] = "Succeeded"
    kube.add_pod(finished)
    n1 = capacity(pod_api)["n1"]
    assert n1.capacity == {"cpu": 3820, "memory": 15935 - 70, "nvidia.com/gpu": 4}
    assert n1.labels["kubernetes.io/hostname"] == "n1"
    assert UNSCHEDULABLE_LABEL not in n1.labels
    # Extended resources are whole devices: the scheduler keeps GPU shares off this node.
    assert n1.labels[DEVICE_SHARES_LABEL] == "false"
    (pods_read,) = kube.calls("GET", "/api/v1/pods")
    assert pods_read.query["fieldSelector"] == ["status.phase!=Succeeded,status.phase!=Failed"]
    assert pods_read.query["resourceVersion"] == ["0"]  # served from the watch cache


def test_pods_of_another_agent_count_as_used(kube: KubeApiServer, pod_api: PodApi) -> None:
    """A pod of another suanchou agent is not this agent's to account for."""
    kube.nodes = [node("n1", cpu="4", memory="8Gi")]
    labels = {"app.kubernetes.io/managed-by": "suanchou", "suanchou.io/agent": "other"}
    kube.add_pod(other_pod("theirs", "n1", "1", "1Gi", **labels))
    assert capacity(pod_api)["n1"].capacity["cpu"] == 3000


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"unschedulable": True}, "cordoned"),
        ({"ready": False}, "not-ready"),
        # More taints than the scheduler takes: one left out could let the wrong job in.
        ({"taints": [{"key": f"t{i}", "effect": "NoSchedule"} for i in range(33)]}, "tainted"),
    ],
)
def test_unschedulable_nodes_offer_only_what_our_pods_hold(
    kube: KubeApiServer, pod_api: PodApi, kwargs: dict[str, Any], why: str
) -> None:
    """Cordoned, not-ready and nodes with taints that cannot all be reported keep our runs but
    take no new work."""
    kube.nodes = [node("n1", cpu="8", memory="32Gi", **kwargs)]
    labels = {"app.kubernetes.io/managed-by": "suanchou", "suanchou.io/agent": "city"}
    kube.add_pod(other_pod("ours", "n1", "1500m", "2Gi", **labels))
    n1 = capacity(pod_api)["n1"]
    assert n1.capacity == {"cpu": 1500, "memory": 2048}
    assert n1.labels[UNSCHEDULABLE_LABEL] == why


def test_taints_are_reported_unless_the_agent_tolerates_them(
    kube: KubeApiServer, pod_api: PodApi
) -> None:
    """A taint `--tolerate` covers is not reported (every pod tolerates it); any other taint is
    reported with the node's whole room, so the scheduler sends only tolerating jobs there."""
    gpu = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    dedicated = {"key": "dedicated", "value": "ai", "effect": "NoExecute"}
    kube.nodes = [node("g1", extra={"nvidia.com/gpu": "8"}, taints=[gpu, dedicated])]
    g1 = capacity(pod_api, tolerations=[Toleration.parse("nvidia.com/gpu:NoSchedule")])["g1"]
    assert g1.capacity["nvidia.com/gpu"] == 8
    assert g1.taints == (NodeTaint("dedicated", "ai", "NoExecute"),)
    assert UNSCHEDULABLE_LABEL not in g1.labels
    untolerated = capacity(pod_api)["g1"]
    assert [str(t) for t in untolerated.taints] == [
        "dedicated=ai:NoExecute",
        "nvidia.com/gpu=present:NoSchedule",
    ]
    assert untolerated.capacity["nvidia.com/gpu"] == 8


def test_api_failure_keeps_the_last_good_answer(kube: KubeApiServer, pod_api: PodApi) -> None:
    """A failing API server does not withdraw the cluster's capacity."""
    kube.nodes = [node("n1")]
    now = [0.0]
    source = KubernetesCapacity(pod_api, agent="city", refresh=1.0, clock=lambda: now[0])
    kube.fail.append(("GET", "/api/v1/nodes", 500))
    now[0] = 5.0
    assert [n.name for n in source.nodes()] == ["n1"]
    assert len(kube.calls("GET", "/api/v1/nodes")) == 2


def test_unreachable_api_fails_at_start(pod_api: PodApi, kube: KubeApiServer) -> None:
    """With no answer at start the agent refuses to run rather than offer nothing."""
    kube.fail.append(("GET", "/api/v1/nodes", 403))
    with pytest.raises(ValueError, match="cannot list nodes and pods: 403"):
        KubernetesCapacity(pod_api, agent="city")


def test_resources_the_scheduler_would_refuse_are_bounded_or_left_out(
    kube: KubeApiServer, pod_api: PodApi
) -> None:
    """Huge counts are capped, upper-case and non-placement resources dropped, 32 kinds at most."""
    extra = {f"example.com/r{i:02d}": "1" for i in range(40)}
    extra.update({"huawei.com/Ascend910": "8", "hugepages-2Mi": "0", "example.com/huge": "1e12"})
    kube.nodes = [node("n1", extra=extra)]
    offered = capacity(pod_api)["n1"].capacity
    assert len(offered) == 32
    assert {"cpu", "memory", "example.com/huge"} <= set(offered)
    assert offered["example.com/huge"] == 1 << 20
    assert not any(n.startswith(("huawei", "hugepages", "pods", "ephemeral")) for n in offered)
