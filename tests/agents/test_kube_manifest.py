"""Pod manifests of the Kubernetes executor, validated against the official OpenAPI schema."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.executor import Lease
from agents.kube import quantity
from agents.kube.manifest import (
    AGENT_LABEL,
    JOB_LABEL,
    RUN_ANNOTATION,
    RUN_LABEL,
    Toleration,
    build_pod,
    pod_name,
)
from agents.taints import LeaseToleration
from tests.kube_api import validate

LEASE = Lease(
    run_id="0f5c3d5e-8b1a-4c47-9a53-2d7f3f0c1a11",
    job_id="job-42",
    command=("python3", "-c", "print('hi')"),
    replica=1,
    replicas=2,
    attempt=3,
    node="gpu-node-1",
    env={"MODEL": "small", "SUANCHOU_JOB_ID": "forged"},
    max_runtime_seconds=600,
    resources={"cpu": 1500, "memory": 4096, "nvidia.com/gpu": 2},
)


def pod(lease: Lease = LEASE, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "image": "python:3.12-slim",
        "namespace": "jobs",
        "agent": "city-gpu",
        "kill_grace": 10,
    }
    options.update(kwargs)
    return build_pod(lease, **options)


def test_pod_is_valid_and_bound_to_the_leased_node() -> None:
    """The pod validates against Kubernetes 1.37's schema and names the chosen node."""
    manifest = pod()
    validate(manifest)
    spec = manifest["spec"]
    assert spec["nodeName"] == "gpu-node-1"
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["automountServiceAccountToken"] is False


def test_requests_equal_limits_with_gpus_as_extended_resources() -> None:
    """cpu millicores, memory MiB and GPUs become identical requests and limits."""
    container = pod()["spec"]["containers"][0]
    expected = {"cpu": "1500m", "memory": "4096Mi", "nvidia.com/gpu": "2"}
    assert container["resources"] == {"requests": expected, "limits": expected}
    assert container["command"] == ["python3", "-c", "print('hi')"]
    assert container["image"] == "python:3.12-slim"


def test_environment_is_the_jobs_plus_run_variables_that_cannot_be_forged() -> None:
    """The job's env reaches the container; SUANCHOU_* run variables override the job's."""
    env = {e["name"]: e["value"] for e in pod()["spec"]["containers"][0]["env"]}
    assert env == {
        "MODEL": "small",
        "SUANCHOU_JOB_ID": "job-42",
        "SUANCHOU_RUN_ID": LEASE.run_id,
        "SUANCHOU_REPLICA": "1",
        "SUANCHOU_REPLICAS": "2",
    }


def test_labels_and_annotations_identify_agent_run_and_job() -> None:
    """A restarted agent finds the pod by its agent label; the run id is kept exactly."""
    meta = pod()["metadata"]
    assert meta["labels"][AGENT_LABEL] == "city-gpu"
    assert meta["labels"][RUN_LABEL] == LEASE.run_id
    assert meta["labels"][JOB_LABEL] == "job-42"
    assert meta["annotations"][RUN_ANNOTATION] == LEASE.run_id
    assert meta["name"] == f"suanchou-{LEASE.run_id}"


def test_run_ids_that_are_not_dns_names_get_distinct_valid_pod_names() -> None:
    """Upper case, underscores and 128-character ids map to distinct valid names and labels."""
    ids = ["Run_A", "run-a", "run_a", "R" * 128, "x." * 60]
    names = {pod_name(i) for i in ids}
    assert len(names) == len(ids)
    for run_id in ids:
        lease = Lease(run_id=run_id, job_id="J_" * 64, command=("true",), node="n1")
        validate(pod(lease))
        assert len(pod_name(run_id)) <= 63


def test_tolerations_are_carried_by_the_pod() -> None:
    """`--tolerate` values become pod tolerations with the right operator."""
    tolerations = [Toleration.parse("nvidia.com/gpu:NoSchedule"), Toleration.parse("pool=ai")]
    manifest = pod(tolerations=tolerations)
    validate(manifest)
    assert manifest["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "pool", "operator": "Equal", "value": "ai"},
    ]


def test_the_jobs_tolerations_join_the_agents_on_the_pod() -> None:
    """A lease's tolerations (Equal, Exists, every key) follow the agent's on the pod, a
    repeat of the agent's left out; the manifest stays valid."""
    job = (
        LeaseToleration("dedicated", "Equal", "ai", "NoSchedule"),
        LeaseToleration("nvidia.com/gpu", "Exists", "", "NoSchedule"),
        LeaseToleration("", "Exists", "", "NoExecute"),
    )
    manifest = pod(
        replace(LEASE, tolerations=job), tolerations=[Toleration.parse("nvidia.com/gpu:NoSchedule")]
    )
    validate(manifest)
    assert manifest["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ai", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "NoExecute"},
    ]


@pytest.mark.parametrize("text", ["", "a b", "key:Sometimes", "k=v w"])
def test_bad_tolerations_name_the_flag(text: str) -> None:
    """A malformed --tolerate is refused with the flag's name."""
    with pytest.raises(ValueError, match="--tolerate"):
        Toleration.parse(text)


def test_kubernetes_quantities_in_suanchou_units() -> None:
    """Allocatable rounds down, usage rounds up, every suffix the API server emits is read."""
    assert quantity.canonical("cpu", "3920m", round_up=False) == 3920
    assert quantity.canonical("cpu", "1", round_up=True) == 1000
    assert quantity.canonical("cpu", "250u", round_up=True) == 1
    assert quantity.canonical("memory", "16318164Ki", round_up=False) == 15935
    assert quantity.canonical("memory", "16318164Ki", round_up=True) == 15936
    assert quantity.canonical("memory", "1e9", round_up=True) == 954
    assert quantity.canonical("nvidia.com/gpu", "4", round_up=False) == 4
    assert quantity.parse("1.5Gi") == Decimal("1.5") * 2**30
    with pytest.raises(ValueError, match="not a quantity"):
        quantity.parse("12 apples")


RBAC = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "rbac.yaml"


def test_rbac_manifest_is_valid_and_grants_every_call_the_agent_makes() -> None:
    """Each document validates, and the roles cover exactly the verbs the executor uses."""
    documents = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    for document in documents:
        validate(document)
    grants = {
        (doc["kind"], resource, verb)
        for doc in documents
        if doc["kind"] in ("Role", "ClusterRole")
        for rule in doc["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert grants == {
        ("ClusterRole", "nodes", "get"),
        ("ClusterRole", "nodes", "list"),
        ("ClusterRole", "pods", "get"),
        ("ClusterRole", "pods", "list"),
        ("Role", "pods", "create"),
        ("Role", "pods", "get"),
        ("Role", "pods", "list"),
        ("Role", "pods", "patch"),
        ("Role", "pods", "delete"),
        ("Role", "pods/log", "get"),
    }
