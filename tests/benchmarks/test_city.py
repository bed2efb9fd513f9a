"""The city simulator: its trace generator, its event loop through the real cycle, the
baselines and the metrics, on traces small enough for CI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.city.__main__ import make_policy
from benchmarks.city.metrics import Metrics, jain, measure, percentile
from benchmarks.city.real import RealCycle
from benchmarks.city.sim import Result, run
from benchmarks.city.trace import CityCluster, Trace, TraceJob, TraceParams, generate
from scheduler import logs
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU

POLICIES = ("separate", "kueue", "slurm", "suanchou")
TINY = TraceParams(departments=3, nodes=8, jobs=40, days=1.0, seed=7)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The cycle logs every cycle at info; the simulator runs hundreds."""
    logs.configure("warning", json=False)
    yield


def test_generator_is_deterministic_per_seed() -> None:
    """The same parameters give the same trace; another seed gives another."""
    params = TraceParams(departments=5, nodes=30, jobs=200, days=2.0, seed=3)
    assert generate(params) == generate(params)
    other = generate(TraceParams(departments=5, nodes=30, jobs=200, days=2.0, seed=4))
    assert other.jobs != generate(params).jobs


def test_generator_respects_its_parameters() -> None:
    """Departments, nodes, jobs and period are as asked, and every job fits its own clusters."""
    params = TraceParams(departments=6, nodes=40, jobs=300, days=3.0, seed=2)
    trace = generate(params)
    assert 0.3 < float(trace.meta["load"]) <= params.load + 1e-9  # type: ignore[arg-type]
    assert len(trace.departments) == 6
    assert sum(c.nodes for c in trace.clusters) == 40
    assert len(trace.jobs) == 300
    assert len({j.job_id for j in trace.jobs}) == 300
    assert all(0 <= j.arrival_s <= 3 * 86_400 for j in trace.jobs)
    assert [j.arrival_s for j in trace.jobs] == sorted(j.arrival_s for j in trace.jobs)
    assert {c.department for c in trace.clusters} == set(trace.departments)
    assert all(2 <= c.security_level <= 4 for c in trace.clusters)
    for job in trace.jobs:
        own = [
            c
            for c in trace.clusters
            if c.department == job.department
            and c.security_level >= job.min_security_level
            and (c.xinchuang or not job.xinchuang_required)
            and c.nodes * min(dict(c.node_capacity).get(r, 0) // q for r, q in job.resources)
            >= job.replicas
        ]
        assert own, f"{job.job_id} cannot run on its department's clusters"
    assert any(NVIDIA_GPU in j.demand() and j.replicas > 1 for j in generate(TraceParams()).jobs)


def _burst_trace() -> Trace:
    """Two departments with two 8-core nodes each; 交通局 is idle, 公安局 submits eight
    one-hour jobs of a whole node at once: four waves on its own nodes, two on the pool."""
    node = ((CPU, 8000), (MEMORY, 32 * 1024))
    clusters = (
        CityCluster("c-police", "公安局", 2, node, 3, False),
        CityCluster("c-transport", "交通局", 2, node, 3, False),
    )
    jobs = tuple(
        TraceJob(f"j{i}", "公安局", "batch", 0.0, 3600.0, 1, ((CPU, 8000), (MEMORY, 16 * 1024)))
        for i in range(8)
    )
    params = TraceParams(departments=2, nodes=4, jobs=8, days=1.0)
    return Trace(params, ("公安局", "交通局"), clusters, jobs, 86_400.0)


def _last_end(result: Result) -> float:
    ends = [r.end_s for r in result.records.values()]
    assert all(e is not None for e in ends), f"{result.policy} left jobs unfinished"
    return max(e for e in ends if e is not None)


def test_pooled_policies_finish_a_burst_sooner_than_separate_clusters() -> None:
    """A burst beyond its own cluster ends in two waves on the pool, four on its own nodes."""
    trace = _burst_trace()
    ends = {name: _last_end(run(make_policy(name, trace, 0.2), trace)) for name in POLICIES}
    assert ends["separate"] >= 4 * 3600
    for name in ("kueue", "slurm", "suanchou"):
        assert ends[name] < ends["separate"], ends
        assert ends[name] <= 2 * 3600 + 2 * 60, ends  # two waves, each started at a tick


def test_real_cycle_runs_every_job_to_completion() -> None:
    """Through the real service layer and cycle every job of a tiny trace succeeds, and the
    scheduler's own store agrees."""
    trace = generate(TINY)
    policy = RealCycle(trace, solver_time_limit_s=0.2)
    result = run(policy, trace)
    assert result.finished == len(trace.jobs)
    assert all(r.start_s is not None and r.cluster for r in result.records.values())
    assert policy.final_states == {"SUCCEEDED": len(trace.jobs)}
    assert policy.cycles == result.decisions


def test_every_policy_is_measured_on_the_same_jobs() -> None:
    """The four policies replay one trace and their metrics count the same job set."""
    trace = generate(TINY)
    metrics: list[Metrics] = [measure(run(make_policy(n, trace, 0.2), trace)) for n in POLICIES]
    ids = {j.job_id for j in trace.jobs}
    for m in metrics:
        assert m.job_ids == ids
        assert m.jobs == len(ids) == m.finished + m.unfinished
        assert sum(w.jobs for w in m.wait_by_department.values()) == len(ids)
        assert 0 < m.utilisation[CPU] <= 1
        assert 0 < m.jain <= 1
        assert sum(m.entitled_share.values()) == pytest.approx(1.0)


def test_percentile_and_jain_on_hand_worked_cases() -> None:
    """Nearest-rank percentiles and Jain's index match values worked by hand."""
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([], 95) == 0.0
    assert jain([1.0, 1.0, 1.0]) == pytest.approx(1.0)
    assert jain([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)


def test_real_cycle_places_a_small_job_that_fits_beside_high_priority_running_work() -> None:
    """A 1-core job arriving while high-priority work fills half of every node starts at the
    next cycle."""
    node = ((CPU, 8000), (MEMORY, 32 * 1024))
    big = ((CPU, 4000), (MEMORY, 8 * 1024))
    jobs = (
        *(TraceJob(f"b{i}", "公安局", "analytics", 0.0, 36_000.0, 1, big, priority=1000)
          for i in range(4)),
        TraceJob("small", "公安局", "batch", 120.0, 3600.0, 1, ((CPU, 1000), (MEMORY, 1024))),
    )  # fmt: skip
    trace = Trace(
        TraceParams(departments=1, nodes=4, jobs=5, days=1.0),
        ("公安局",),
        (CityCluster("c-police", "公安局", 4, node, 3, False),),
        jobs,
        86_400.0,
    )
    result = run(RealCycle(trace, solver_time_limit_s=0.2), trace)
    assert result.records["small"].start_s == 120.0, result.records["small"]
