"""Which nodes may take a GPU job: GPU models as one of a set, and shares kept off nodes that
run whole devices only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.domain import reasons
from scheduler.domain.eligibility import DEVICE_SHARES_LABEL, node_matches, static_verdict
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Cluster, ClusterSpec, Constraints, JobSpec, Node
from scheduler.domain.resources import NVIDIA_GPU
from scheduler.domain.states import ClusterState
from scheduler.domain.validation import validate_job_spec

NOW = datetime(2026, 12, 4, tzinfo=UTC)
CLUSTER = Cluster(ClusterSpec(name="k", region="hz"), ClusterState.ACTIVE, NOW, NOW)


def _spec(gpu: int, models: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec(
        client_id="x",
        command=("true",),
        resources={"cpu": 1000, NVIDIA_GPU: gpu},
        constraints=Constraints(gpu_models=models),
    )


def _node(**labels: str) -> Node:
    return Node("k", "n", {"cpu": 8000, NVIDIA_GPU: 2000}, labels)


def test_a_share_never_matches_a_whole_devices_only_node() -> None:
    """A 0.25 share skips a node labelled device-shares=false (DEVICE_SHARES when no node
    takes one); a whole GPU still goes there."""
    kube = _node(**{DEVICE_SHARES_LABEL: "false"})
    assert not node_matches(_spec(250), kube) and node_matches(_spec(1000), kube)
    assert node_matches(_spec(250), _node())
    verdict = static_verdict(_spec(250), CLUSTER, [kube])
    assert (verdict.eligible, verdict.reason) == (False, reasons.DEVICE_SHARES)


def test_gpu_models_are_one_of_a_set_and_validated() -> None:
    """A node's gpu.model must be among the job's models; more than 16 or an empty model is
    refused naming the field."""
    assert node_matches(_spec(1000, ("A100", "H800")), _node(**{"gpu.model": "H800"}))
    assert not node_matches(_spec(1000, ("A100",)), _node(**{"gpu.model": "H800"}))
    assert not node_matches(_spec(1000, ("A100",)), _node())
    verdict = static_verdict(_spec(1000, ("A100",)), CLUSTER, [_node(**{"gpu.model": "H800"})])
    assert verdict.reason == reasons.GPU_MODEL and "A100" in verdict.message
    with pytest.raises(InvalidSpec) as too_many:
        validate_job_spec(_spec(1000, tuple(f"m{i}" for i in range(17))))
    assert too_many.value.field == "constraints.gpu_models"
    with pytest.raises(InvalidSpec) as empty:
        validate_job_spec(_spec(1000, ("A100", "")))
    assert empty.value.field == "constraints.gpu_models[1]"
    with pytest.raises(InvalidSpec) as half_again:
        validate_job_spec(_spec(1500))
    assert half_again.value.field == f"resources[{NVIDIA_GPU}]"
