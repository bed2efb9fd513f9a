"""Snapshot -> Problem: the GPU value weight (SchedulerSettings.gpu_value_weight)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.domain.models import Cluster, ClusterSpec, Job, JobSpec, Node
from scheduler.domain.resources import CPU, NVIDIA_GPU
from scheduler.domain.states import ClusterState, JobState
from scheduler.placement import MAX_RESOURCE_VALUE, EngineParams, solve
from scheduler.service.problem_builder import build_problem, resource_value
from scheduler.service.snapshot import Snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job(job_id: str, seq: int, resources: dict[str, int]) -> Job:
    spec = JobSpec(client_id=job_id, command=("true",), resources=resources)
    return Job(job_id, "dept", spec, JobState.QUEUED, NOW, NOW, seq=seq)


def _snapshot() -> Snapshot:
    """One node (4 cores, 2 GPUs); a CPU-heavy job and a GPU job that do not fit together, and
    a job too large for the node that sets the norms (8 cores, 8 GPUs)."""
    cluster = Cluster(ClusterSpec(name="c1", region="r1"), ClusterState.ACTIVE, NOW, NOW)
    node = Node("c1", "n1", {CPU: 4000, NVIDIA_GPU: 2000})
    jobs = (
        _job("cpu-heavy", 1, {CPU: 4000}),
        _job("gpu", 2, {CPU: 1000, NVIDIA_GPU: 2000}),
        _job("huge", 3, {CPU: 8000, NVIDIA_GPU: 8000}),
    )
    return Snapshot(
        now=NOW,
        clusters=(cluster,),
        states={"c1": ClusterState.ACTIVE},
        nodes=(node,),
        used={},
        queued=jobs,
    )


def test_default_weight_leaves_every_resource_alike() -> None:
    built = build_problem(_snapshot())
    assert built.problem is not None and built.problem.resource_value == ()


def test_gpu_weight_values_the_gpu_and_changes_the_placed_job() -> None:
    """Default: the CPU-heavy job is worth more (500 against 125 + 250) and is placed; with the
    GPU at 4 the GPU job is (125 + 1000 against 500)."""
    plain = build_problem(_snapshot()).problem
    weighted = build_problem(_snapshot(), gpu_value_weight=4).problem
    assert plain is not None and weighted is not None
    assert weighted.resources == (CPU, NVIDIA_GPU)
    assert weighted.resource_value == (1, 4)
    params = EngineParams(time_limit_s=1.0)
    for problem, placed in ((plain, 0), (weighted, 1)):
        solution = solve(problem, params=params).solution
        assert solution is not None
        assert [j for j, nodes in enumerate(solution.assignment) if nodes] == [placed]


@pytest.mark.parametrize(
    ("resources", "weight", "expected"),
    [
        ((CPU,), 8, ()),
        ((CPU, NVIDIA_GPU), 1, ()),
        ((CPU, "memory", NVIDIA_GPU), 10, (1, 1, 10)),
        ((CPU, NVIDIA_GPU), 1000, (1, MAX_RESOURCE_VALUE - 1)),
    ],
)
def test_resource_value_is_clamped_to_the_budget(
    resources: tuple[str, ...], weight: int, expected: tuple[int, ...]
) -> None:
    assert resource_value(resources, weight) == expected
