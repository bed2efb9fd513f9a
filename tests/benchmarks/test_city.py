"""The city simulator: its trace generator, its event loop through the real cycle, the
baselines and the metrics, on traces small enough for CI."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.__main__ import parse_tracks
from benchmarks.city.__main__ import main, make_policy, replay, side_by_side
from benchmarks.city.decision_cost import main as decision_cost
from benchmarks.city.guarantee import kept
from benchmarks.city.headline import fewest_nodes, scale
from benchmarks.city.kueue import KueueLike
from benchmarks.city.metrics import Metrics, jain, measure, percentile
from benchmarks.city.quotas import flavour_of
from benchmarks.city.real import RealCycle
from benchmarks.city.sim import JobRecord, Result, run
from benchmarks.city.slurm import SlurmLike
from benchmarks.city.solve_captured import main as solve_captured
from benchmarks.city.trace import CityCluster, Trace, TraceJob, TraceParams, generate
from scheduler import logs
from scheduler.domain.resources import CPU, MEMORY, NVIDIA_GPU
from scheduler.service import cycle as cycle_module
from scheduler.service import cycle_solve

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


NODE = ((CPU, 8000), (MEMORY, 32 * 1024))
WHOLE = ((CPU, 8000), (MEMORY, 16 * 1024))  # a whole node's CPU


def _two_departments(jobs: tuple[TraceJob, ...]) -> Trace:
    """公安局 and 交通局 with two 8-core nodes each."""
    clusters = (
        CityCluster("c-police", "公安局", 2, NODE, 3, False),
        CityCluster("c-transport", "交通局", 2, NODE, 3, False),
    )
    params = TraceParams(departments=2, nodes=4, jobs=len(jobs), days=1.0)
    return Trace(params, ("公安局", "交通局"), clusters, jobs, 86_400.0)


def test_burst_waits_match_the_hand_computed_waves() -> None:
    """Eight one-hour whole-node jobs at once: on its own two nodes they wait 0,0,1,1,2,2,3,3 h
    (mean 1.5 h, p95 3 h); on the pool of four, 0,0,0,0,1,1,1,1 h (mean 0.5 h, p95 1 h)."""
    trace = _burst_trace()
    for name in POLICIES:
        m = measure(run(make_policy(name, trace, 0.2), trace))
        mean, p95 = (1.5, 3.0) if name == "separate" else (0.5, 1.0)
        assert m.wait.mean_h == pytest.approx(mean), name
        assert m.wait.p95_h == pytest.approx(p95), name
        assert m.guarantee == pytest.approx(1.0), name  # never below its nominal with work left
        # 8 job-hours of 8 cores (0.12 ¥/core-h) and 16 GiB (0.015 ¥/GiB-h): 8 x 1.2 ¥.
        assert m.cost == pytest.approx(9.6), name
        assert m.preemptions == 0 and m.lost_replica_h == 0.0


def test_guarantee_is_kept_when_demand_stays_within_nominal() -> None:
    """Each department never needs more than its own two nodes at once (1,000 s jobs every
    600 s): every policy keeps 100%."""
    jobs = tuple(
        TraceJob(f"{d}{i}", dept, "batch", 600.0 * i, 1000.0, 1, WHOLE)
        for d, dept in (("p", "公安局"), ("t", "交通局"))
        for i in range(6)
    )
    trace = _two_departments(tuple(sorted(jobs, key=lambda j: (j.arrival_s, j.job_id))))
    for name in POLICIES:
        m = measure(run(make_policy(name, trace, 0.2), trace))
        assert m.guarantee == pytest.approx(1.0), name
        assert set(m.guarantee_by_department.values()) == {1.0}, name


def test_guarantee_kept_on_hand_worked_records() -> None:
    """A job that fits the unused nominal but waits 2 h (grace 60 s) leaves the department short
    for 7,140 s of its 10,800 s with demand; one that does not fit never does."""
    job = TraceJob("a", "公安局", "batch", 0.0, 3600.0, 1, WHOLE)
    waited = JobRecord(job, start_s=7200.0, end_s=10_800.0, freed_s=10_800.0, cluster="c")
    clusters = (CityCluster("c", "公安局", 1, NODE, 3, False),)
    g = flavour_of(clusters[0])
    got = kept([waited], {(g, CPU): 8000, (g, MEMORY): 32 * 1024}, 10_800.0, 60.0, clusters)
    assert got.demand_s == pytest.approx(10_800.0)
    assert got.share == pytest.approx(3660.0 / 10_800.0)
    small = {(g, CPU): 4000, (g, MEMORY): 32 * 1024}
    assert kept([waited], small, 10_800.0, 60.0, clusters).share == 1.0


GPU_NODE = ((CPU, 32_000), (MEMORY, 128 * 1024), (NVIDIA_GPU, 4))
GANG = ((CPU, 8000), (MEMORY, 32 * 1024), (NVIDIA_GPU, 4))  # a whole GPU node's GPUs


def test_guarantee_counts_work_in_the_group_of_its_cluster() -> None:
    """GPU quota groups are split by 信创 (quotas.SPLIT_BY). 公安局 contributed a standard GPU
    node: a job of it that requires 信创 is owed nothing while it waits; one that may use
    either is owed its standard nominal, and its work running on the 信创 node counts there
    (borrowed), not against the standard nominal."""
    clusters = (
        CityCluster("g-std", "公安局", 1, GPU_NODE, 3, False),
        CityCluster("g-xc", "交通局", 1, GPU_NODE, 3, True),
    )
    std, xc = (flavour_of(c) for c in clusters)
    assert std != xc
    nominal = {(std, r): q for r, q in GPU_NODE}
    waits_xc = TraceJob("x", "公安局", "gang", 0.0, 3600.0, 1, GANG, xinchuang_required=True)
    waited = JobRecord(waits_xc, start_s=7200.0, end_s=10_800.0, freed_s=10_800.0, cluster="g-xc")
    assert kept([waited], nominal, 10_800.0, 60.0, clusters).share == 1.0
    # One job on the 信创 node from 0, a second waiting 2 h that fits the standard nominal:
    # short from 60 s to 7,200 s.
    running = JobRecord(
        TraceJob("r", "公安局", "gang", 0.0, 10_800.0, 1, GANG), start_s=0.0,
        end_s=10_800.0, freed_s=10_800.0, cluster="g-xc",
    )  # fmt: skip
    second = JobRecord(
        TraceJob("s", "公安局", "gang", 0.0, 3600.0, 1, GANG), start_s=7200.0,
        end_s=10_800.0, freed_s=10_800.0, cluster="g-std",
    )  # fmt: skip
    got = kept([running, second], nominal, 10_800.0, 60.0, clusters)
    assert got.share == pytest.approx(1 - 7140.0 / 10_800.0)


def _xinchuang_city() -> Trace:
    """公安局 contributed a 信创 GPU node, 交通局 a standard one. 公安局's first job may run on
    either and takes the standard node (the least capable first); 交通局's long job then runs
    on the 信创 node: one node's worth, within 交通局's GPU nominal summed over the groups,
    but borrowed in the 信创 group. 公安局's first job ends, and at 2 h it submits a job that
    requires 信创."""
    clusters = (
        CityCluster("g-police", "公安局", 1, GPU_NODE, 3, True),
        CityCluster("g-transport", "交通局", 1, GPU_NODE, 3, False),
    )
    jobs = (
        TraceJob("p-early", "公安局", "gang", 0.0, 1800.0, 1, GANG),
        TraceJob("t0", "交通局", "gang", 60.0, 36_000.0, 1, GANG),
        TraceJob("p0", "公安局", "gang", 7200.0, 3600.0, 1, GANG, xinchuang_required=True),
    )
    params = TraceParams(departments=2, nodes=2, jobs=len(jobs), days=1.0)
    return Trace(params, ("公安局", "交通局"), clusters, jobs, 86_400.0)


@pytest.mark.parametrize("policy", ["kueue", "suanchou"])
def test_owner_reclaims_its_xinchuang_node_from_work_within_a_pooled_total(policy: str) -> None:
    """Per-group nominal: 交通局 on the 信创 node borrows there, so 公安局's 信创 job reclaims it
    one tick after it arrives (with one quota group for all GPU nodes, 交通局 was within its
    nominal and the claim waited ten hours)."""
    trace = _xinchuang_city()
    result = run(make_policy(policy, trace, 0.2), trace)
    assert result.records["p-early"].cluster == "g-transport"
    assert result.records["t0"].preemptions == 1
    assert result.records["p0"].start_s == 7260.0, result.records["p0"]
    assert result.records["p0"].cluster == "g-police"
    assert measure(result).guarantee_by_department["公安局"] == pytest.approx(1.0)


def test_kueue_reclaims_nominal_from_a_borrower() -> None:
    """交通局 borrows 公安局's idle nodes with four long jobs; when 公安局 submits one job, one
    borrower is preempted (its run so far lost) and 公安局's job starts at the next tick, once
    the victim has stopped."""
    borrowers = tuple(
        TraceJob(f"t{i}", "交通局", "batch", 60.0 * i, 36_000.0, 1, WHOLE) for i in range(4)
    )
    claim = TraceJob("p0", "公安局", "batch", 600.0, 3600.0, 1, WHOLE)
    trace = _two_departments((*borrowers, claim))
    result = run(KueueLike(trace), trace)
    m = measure(result)
    assert result.records["p0"].start_s == 660.0
    assert m.preemptions == 1
    (victim,) = [r for r in result.records.values() if r.preemptions]
    assert victim.job.department == "交通局" and victim.start_s is not None
    assert m.lost_replica_h == pytest.approx((600.0 - victim.start_s) / 3600)
    assert m.guarantee_by_department["公安局"] == pytest.approx(1.0)
    assert m.finished == 5


def test_real_cycle_reclaims_from_a_long_borrower_on_a_quiet_cluster() -> None:
    """The same city through the real cycle, 公安局's claim two hours in: the two borrowers on
    公安局's cluster were leased there and nothing else ends on it. The simulated agents report
    a lease RUNNING at once, as a real agent does within its sync interval, so the borrowers
    have run past the minimum runtime and one is preempted; 公安局's job starts one tick after
    the claim. (Reported only at the cluster's next end, they had run 0 s for the preemption
    rules and the claim waited ten hours.)"""
    borrowers = tuple(
        TraceJob(f"t{i}", "交通局", "batch", 60.0 * i, 36_000.0, 1, WHOLE) for i in range(4)
    )
    claim = TraceJob("p0", "公安局", "batch", 7200.0, 3600.0, 1, WHOLE)
    trace = _two_departments((*borrowers, claim))
    policy = RealCycle(trace, solver_time_limit_s=0.2)
    result = run(policy, trace)
    m = measure(result)
    assert result.records["p0"].start_s == 7260.0, result.records["p0"]
    assert m.preemptions == 1
    (victim,) = [r for r in result.records.values() if r.preemptions]
    assert victim.job.department == "交通局"
    assert m.guarantee_by_department["公安局"] == pytest.approx(1.0)
    assert m.finished == 5


def test_scale_is_deterministic_and_keeps_a_node_per_cluster() -> None:
    """A scaled pool has round(f x nodes) nodes, at least one per cluster, the same each time."""
    trace = generate(TraceParams(departments=5, nodes=40, jobs=50, days=1.0, seed=2))
    for f in (0.3, 0.55, 0.8, 1.0):
        a, b = scale(trace, f), scale(trace, f)
        assert a.clusters == b.clusters
        assert sum(c.nodes for c in a.clusters) == max(len(trace.clusters), round(40 * f))
        assert all(c.nodes >= 1 for c in a.clusters)
        assert a.jobs == trace.jobs


def test_headline_finds_the_pool_that_pooling_saves() -> None:
    """One department idle while the other bursts: half the nodes pooled give the burst the p95
    it had on its own two nodes, so the pool needs 50% fewer nodes (Kueue-like and suanchou)."""
    trace = _burst_trace()
    separate = measure(run(make_policy("separate", trace, 0.2), trace))
    target = {d: w.p95_h for d, w in separate.wait_by_department.items()}
    for name, steps in (("kueue", 6), ("suanchou", 1)):
        h = fewest_nodes(
            name,
            trace,
            functools.partial(make_policy, name, solver_time_limit_s=0.2),
            target,
            60.0,
            max_steps=steps,
        )
        assert h.fewest_nodes == 2, h
        assert h.fewer_pct == pytest.approx(50.0)


def test_quick_run_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The quick path (shrunk further here) writes table, CSV, JSON and both plots and checks
    the city thresholds; `--track city` is a track of `python -m benchmarks` but not of all."""
    code = main(["--quick", "--departments", "3", "--nodes", "8", "--jobs", "30",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code in (0, 1)  # a tiny run may breach the quick thresholds; the check must run
    names = ("table.txt", "results.csv", "results.json", "city-utilisation.png",
             "city-wait-cdf.png")  # fmt: skip
    for name in names:
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "city-wait-cdf.png").read_bytes().startswith(b"\x89PNG")
    out = capsys.readouterr().out
    assert "== regressions ==" in out and "统筹" in out
    assert "统筹" in (tmp_path / "table.txt").read_text(encoding="utf-8")
    assert parse_tracks("city") == ("city",)
    assert "city" not in parse_tracks("all")


def test_policies_replayed_side_by_side_measure_what_one_process_measures() -> None:
    """The deterministic baselines replayed in two worker processes give the metrics (wall
    time aside) that one process replaying them in turn gives."""
    trace = generate(TINY)
    calls = [(n, replay, (n, trace, 0.2, 60.0)) for n in ("kueue", "slurm")]
    alone = dict(side_by_side(calls, 1))
    apart = dict(side_by_side(calls, 2))
    assert list(apart) == ["kueue", "slurm"]
    for name in ("kueue", "slurm"):
        assert replace(apart[name], wall_s=0.0) == replace(alone[name], wall_s=0.0)
        assert apart[name].finished == len(trace.jobs)


def test_slurm_shadow_time_is_the_first_end_that_makes_room() -> None:
    """Node 0 frees half a node at 100 s (too little for the blocked whole-node job), node 1
    a whole node at 200 s: the reservation is node 1 at 200 s."""
    trace = _burst_trace()
    slurm = SlurmLike(trace)
    half = ((CPU, 4000), (MEMORY, 8 * 1024))
    whole = ((CPU, 8000), (MEMORY, 16 * 1024))
    running = [
        (TraceJob("a", "公安局", "batch", 0.0, 100.0, 1, half), [0], 100.0),
        (TraceJob("d", "公安局", "batch", 0.0, 300.0, 1, half), [0], 300.0),
        (TraceJob("b", "公安局", "batch", 0.0, 200.0, 1, whole), [1], 200.0),
    ]
    for cluster in ("c-police", "c-transport"):
        for job, nodes, end in running:
            slurm._pool.take(cluster, nodes, job)
            slurm._running[f"{cluster}/{job.job_id}"] = (job, cluster, nodes, end)
    slurm._by_end = sorted(slurm._running.values(), key=lambda r: r[3])
    blocked = TraceJob("c", "公安局", "batch", 0.0, 50.0, 1, whole)
    assert slurm._pool.place(blocked) is None
    assert slurm._shadow(blocked) == (200.0, "c-police", {1})


def test_decision_cost_times_the_slice_it_names(capsys: pytest.CaptureFixture[str]) -> None:
    """The month slice's decision cost counts the decisions inside the slice and no others."""
    assert decision_cost(["--policy", "kueue", "--from-days", "0.1", "--until-days", "0.3"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("kueue: days 0.1-0.3 at a 600-s cycle: ")
    decisions = int(line.split(": ")[2].split()[0])
    assert 0 < decisions <= 0.2 * 86_400 / 600 + 1


def test_captured_decisions_are_solved_again_in_either_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real cycle's engine inputs of a slice, captured, then solved again in both modes:
    as many solves as decisions in the slice, each placing the same jobs (the month's first
    hour leaves room for all of its work)."""
    file = tmp_path / "slice.pkl"
    assert decision_cost(["--from-days", "0", "--until-days", "0.05", "--capture", str(file)]) == 0
    # The capture's hook is gone again: later cycles in this process are not recorded.
    assert cycle_module.solve_cycle is cycle_solve.solve_cycle  # type: ignore[attr-defined]
    decisions = int(capsys.readouterr().out.split(": ")[2].split()[0])
    assert decisions > 0
    placed = []
    for mode in (["--wall-clock"], []):
        assert solve_captured([str(file), "--time-limit", "1", *mode]) == 0
        out = capsys.readouterr().out
        name = "wall-clock" if mode else "deterministic"
        assert out.startswith(f"{decisions} solves, {name}, limit 1 s: wall per solve mean ")
        assert "early stops: " in out
        placed.append(int(out.split("; ")[1].split()[0]))
    assert placed[0] == placed[1] > 0
