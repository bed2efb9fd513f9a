"""The cycle's policy on hand-built snapshots: quota arithmetic (nominal, borrowing, lending,
hierarchy, cluster groups) against hand-worked numbers, the guarantee bands and fair share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.domain.models import Cluster, ClusterSpec, Department, Job, JobSpec, Node
from scheduler.domain.quotas import PriorityClass, QuotaGroup, ResourceQuota
from scheduler.domain.resources import CPU, NVIDIA_GPU
from scheduler.domain.states import ClusterState, JobState
from scheduler.placement import Quota
from scheduler.service.fair_share import decay, fair_share_factors
from scheduler.service.policy import ScopedQuota, effective_priority, lent, plan
from scheduler.service.problem_builder import build_problem
from scheduler.service.snapshot import Governance, Snapshot

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
WEEK = 7 * 24 * 3600.0
XC = {"xinchuang": "true"}


def _cluster(name: str, xinchuang: bool = False) -> Cluster:
    return Cluster(ClusterSpec(name, "hz", xinchuang=xinchuang), ClusterState.ACTIVE, NOW, NOW)


def _job(
    job_id: str, dept: str, gpus: int, seq: int, value: int = 0, state: JobState = JobState.QUEUED
) -> Job:
    spec = JobSpec(job_id, ("true",), {CPU: 1000, NVIDIA_GPU: gpus}, priority=value)
    return Job(job_id, dept, spec, state, NOW, NOW, seq=seq)


def _snapshot(
    quotas: dict[str, list[QuotaGroup]],
    running: Sequence[tuple[Job, str]] = (),
    queued: Sequence[Job] = (),
    weights: dict[str, int] | None = None,
    usage: dict[str, float] | None = None,
) -> Snapshot:
    """Two clusters: gpu-a (16 GPUs) and the 信创 xc (8 GPUs)."""
    names = set(quotas) | {j.department for j, _ in running} | {j.department for j in queued}
    names |= set(weights or {})
    departments = {
        n: Department(n, "", NOW, n.rpartition("/")[0], (), (weights or {}).get(n, 1))
        for n in sorted(names)
    }
    nodes = (
        Node("gpu-a", "n1", {CPU: 64000, NVIDIA_GPU: 16}),
        Node("xc", "n1", {CPU: 64000, NVIDIA_GPU: 8}),
    )
    return Snapshot(
        now=NOW,
        clusters=(_cluster("gpu-a"), _cluster("xc", xinchuang=True)),
        states={"gpu-a": ClusterState.ACTIVE, "xc": ClusterState.ACTIVE},
        nodes=nodes,
        used={},
        queued=tuple(queued),
        running=tuple((job, ((cluster, "n1"),)) for job, cluster in running),
        governance=Governance(
            departments,
            {k: tuple(v) for k, v in quotas.items()},
            {k: (v, NOW) for k, v in (usage or {}).items()},
        ),
    )


def _gpu(
    nominal: int, borrowing: int | None = None, lending: int | None = None
) -> list[QuotaGroup]:
    return [QuotaGroup({}, (ResourceQuota(NVIDIA_GPU, nominal, borrowing, lending),))]


def _by_dept(quotas: tuple[ScopedQuota, ...]) -> dict[str, ScopedQuota]:
    return {q.department: q for q in quotas}


def test_lending_and_borrowing_limits_hand_worked() -> None:
    """24 GPUs; A 8, B 8 lending 4, C 4 borrowing 2; B uses 2, C 6: A may borrow B's 4 + the
    unguaranteed 4 - C's 2 = 6, B 8 + 4 - 2 = 10, C min(2, 8 + 4 + 4) = 2; B lends 2."""
    snap = _snapshot(
        {"A": _gpu(8), "B": _gpu(8, lending=4), "C": _gpu(4, borrowing=2)},
        running=[(_job("b1", "B", 2, 1), "gpu-a"), (_job("c1", "C", 6, 2), "gpu-a")],
    )
    quotas = plan(snap, WEEK).quotas
    q = _by_dept(quotas)
    assert (q["A"].borrow_limit, q["B"].borrow_limit, q["C"].borrow_limit) == (6, 10, 2)
    assert (q["A"].used, q["B"].used, q["C"].used) == (0, 2, 6)
    assert lent(q["B"], quotas) == 2


def test_a_parents_quota_binds_its_subtree_and_children_borrow_from_others() -> None:
    """交通局 10 (its own jobs 5 + 信号处's 3 count against it), 信号处 4, 公安局 6 of 24 GPUs:
    both 交通局 quotas may borrow 公安局's 6 + the unguaranteed 8, 公安局 the 2 交通局 leaves idle
    + 8; the parent's quota lists the subtree as members, the child's only itself."""
    snap = _snapshot(
        {"交通局": _gpu(10), "交通局/信号处": _gpu(4), "公安局": _gpu(6)},
        running=[
            (_job("t1", "交通局", 5, 1), "gpu-a"),
            (_job("s1", "交通局/信号处", 3, 2), "xc"),
        ],
    )
    policy = plan(snap, WEEK)
    q = _by_dept(policy.quotas)
    assert q["交通局"].members == ("交通局", "交通局/信号处")
    assert (q["交通局"].used, q["交通局"].borrow_limit) == (8, 14)
    assert (q["交通局/信号处"].used, q["交通局/信号处"].borrow_limit) == (3, 14)
    problem = build_problem(snap, policy=policy).problem
    assert problem is not None
    depts = sorted({"交通局", "交通局/信号处", "公安局"})
    gpu = problem.resources.index(NVIDIA_GPU)
    assert set(problem.quotas) == {
        Quota(
            depts.index("交通局"),
            gpu,
            10,
            14,
            (),
            (depts.index("交通局"), depts.index("交通局/信号处")),
        ),
        Quota(depts.index("交通局/信号处"), gpu, 4, 14),
        Quota(depts.index("公安局"), gpu, 6, 10),
    }


def test_a_group_quota_covers_only_the_clusters_its_selector_picks() -> None:
    """A 信创 quota of 4 GPUs binds only the xc cluster (its group index); the 8 GPUs there,
    nobody else's, are the most it may borrow; a borrowing limit of 1 caps that."""
    snap = _snapshot(
        {"A": [QuotaGroup(XC, (ResourceQuota(NVIDIA_GPU, 4, 1),))]},
        queued=[_job("a1", "A", 2, 1)],
    )
    policy = plan(snap, WEEK)
    (q,) = policy.quotas
    assert q.clusters == frozenset({"xc"}) and q.borrowable == 4 and q.borrow_limit == 1
    built = build_problem(snap, policy=policy)
    assert built.problem is not None
    assert built.problem.quotas == (
        Quota(0, built.problem.resources.index(NVIDIA_GPU), 4, 1, (1,)),
    )


def test_a_limit_never_drops_below_what_already_runs() -> None:
    """A quota lowered to 2 under 6 running GPUs still lets the running work stand in the
    engine's problem (6 = 2 + 4), or the engine would find no solution at all."""
    snap = _snapshot(
        {"A": _gpu(2, borrowing=0)},
        running=[(_job("a1", "A", 6, 1), "gpu-a")],
        queued=[_job("a2", "A", 1, 2)],
    )
    problem = build_problem(snap).problem
    assert problem is not None and problem.quotas[0].nominal + problem.quotas[0].borrow_limit == 6


def test_the_prefix_within_nominal_is_guaranteed_by_class_then_running_then_age() -> None:
    """A holds 8 GPUs: the class-500 queued 4 and the running class-100 4 fit (800, 640); the
    queued class-100 2 borrows (10 + the fair-share bonus of 24)."""
    snap = _snapshot(
        {"A": _gpu(8)},
        running=[(_job("r1", "A", 4, 1, value=100, state=JobState.RUNNING), "gpu-a")],
        queued=[_job("q1", "A", 4, 3, value=500), _job("q2", "A", 2, 2, value=100)],
    )
    policy = plan(snap, WEEK)
    assert policy.within == {"q1", "r1"}
    assert (policy.priority["q1"], policy.priority["r1"], policy.priority["q2"]) == (800, 640, 34)


def test_a_department_below_nominal_outranks_a_borrower_of_the_same_class() -> None:
    """B (8 nominal, idle) queues a class-100 job; A runs 12 GPUs on an 8 nominal: A's newest
    4 borrow and rank far below B's guaranteed job, so reclaiming B's share wins the work term."""
    snap = _snapshot(
        {"A": _gpu(8), "B": _gpu(8)},
        running=[
            (_job("a1", "A", 8, 1, value=100), "gpu-a"),
            (_job("a2", "A", 4, 2, value=100), "gpu-a"),
        ],
        queued=[_job("b1", "B", 8, 3, value=100)],
    )
    policy = plan(snap, WEEK)
    assert policy.within == {"a1", "b1"}
    assert policy.priority["b1"] == 640 > policy.priority["a2"]
    assert policy.priority["a2"] <= 10 + 24


def test_within_a_department_a_higher_class_outranks_a_lower_one() -> None:
    """Without quotas every job borrows: class 900 ranks 90 + bonus, class 100 10 + bonus."""
    snap = _snapshot(
        {}, queued=[_job("low", "A", 1, 1, value=100), _job("high", "A", 1, 2, value=900)]
    )
    policy = plan(snap, WEEK)
    assert policy.priority["high"] == 114 and policy.priority["low"] == 34


def test_bands_span_the_engines_range() -> None:
    """Guaranteed work is 600-1000, borrowing work 0-124, whatever the inputs."""
    assert effective_priority(1000, True, 0.0) == 1000
    assert effective_priority(0, True, 1.0) == 600
    assert effective_priority(1000, False, 1.0) == 124
    assert effective_priority(0, False, 0.0) == 0


def test_a_half_life_halves_usage() -> None:
    """After one half life without use the accumulator holds half; a rate of 1 for a minute
    adds almost exactly 60 (the decay over a minute of a week is tiny)."""
    assert decay(100.0, NOW, NOW + timedelta(seconds=WEEK), 0.0, WEEK) == pytest.approx(50.0)
    assert decay(0.0, NOW, NOW + timedelta(seconds=60), 1.0, WEEK) == pytest.approx(60.0, rel=1e-4)


def test_a_gap_is_charged_at_most_the_accrual_window() -> None:
    """A scheduler down for an hour charges one minute of the usage it sees on return."""
    assert decay(0.0, NOW, NOW + timedelta(hours=1), 1.0, WEEK) == pytest.approx(60.0, rel=1e-3)


def test_equal_weights_less_usage_gets_the_higher_factor() -> None:
    """Equal weights; A used 1 and B 3 of 4: F_A = 2^-(0.25/0.5) = 0.707, F_B = 2^-(0.75/0.5)
    = 0.354; doubling A's weight raises its factor to 2^-(0.25/0.667) = 0.771."""
    f = fair_share_factors({"A": 1, "B": 1}, {}, {"A": 1.0, "B": 3.0})
    assert f["A"] == pytest.approx(0.7071, abs=1e-4) and f["B"] == pytest.approx(0.3536, abs=1e-4)
    f = fair_share_factors({"A": 2, "B": 1}, {}, {"A": 1.0, "B": 3.0})
    assert f["A"] == pytest.approx(2 ** -(0.25 / (2 / 3)), abs=1e-4)


def test_weight_shares_follow_the_tree() -> None:
    """A child's weight share is its part of its siblings' weights times its parent's share:
    B/x with weight 3 beside B/y's 1 under B (half the top) holds 3/8 = 0.375."""
    f = fair_share_factors(
        {"A": 1, "B": 1, "B/x": 3, "B/y": 1}, {"B/x": "B", "B/y": "B"}, {"A": 1.0, "B/x": 1.0}
    )
    assert f["B/x"] == pytest.approx(2 ** -(0.5 / 0.375), abs=1e-6)
    assert f["B"] == pytest.approx(2 ** -(0.5 / 0.5), abs=1e-6)


def test_fair_share_orders_borrowers_by_their_decayed_usage() -> None:
    """Two departments without quotas queue the same class: the one that used less ranks
    higher, by round(24 x F)."""
    snap = _snapshot(
        {},
        queued=[_job("heavy", "A", 1, 1, value=100), _job("light", "B", 1, 2, value=100)],
        usage={"A": 3.0, "B": 1.0},
    )
    policy = plan(snap, WEEK)
    assert policy.priority["light"] == 10 + 17 and policy.priority["heavy"] == 10 + 8


def test_a_jobs_class_gives_its_value_and_a_bare_priority_stands_without_one() -> None:
    """A job naming class `urgent` (900) ranks 90 + bonus by the class's value; a job without
    a class ranks by its bare priority (100: 10 + bonus)."""
    classy = _job("classy", "A", 1, 1)
    classy = replace(classy, spec=replace(classy.spec, priority_class="urgent"))
    snap = _snapshot({}, queued=[classy, _job("bare", "A", 1, 2, value=100)])
    urgent = PriorityClass("urgent", 900, preemptible=False, may_preempt=True)
    snap = replace(snap, classes={"urgent": urgent})
    policy = plan(snap, WEEK)
    assert policy.priority["classy"] == 114 and policy.priority["bare"] == 34


def test_a_child_without_quota_ranks_against_its_parents_nominal() -> None:
    """交通局 holds 4 GPUs; its child 信号处 has no quota of its own: the child's older 4-GPU
    job takes the parent's guarantee, the parent's own newer one borrows."""
    snap = _snapshot(
        {"交通局": _gpu(4)},
        queued=[_job("child", "交通局/信号处", 4, 1), _job("own", "交通局", 4, 2)],
    )
    assert plan(snap, WEEK).within == {"child"}


def test_a_group_guarantee_covers_only_jobs_that_may_run_in_the_group() -> None:
    """A holds 4 GPUs on the 信创 clusters only: a job allowed there is guaranteed; a job
    restricted to region sh, where no 信创 cluster is, borrows."""
    elsewhere = _job("elsewhere", "A", 1, 2)
    constraints = replace(elsewhere.spec.constraints, allowed_regions=("sh",))
    elsewhere = replace(elsewhere, spec=replace(elsewhere.spec, constraints=constraints))
    snap = _snapshot(
        {"A": [QuotaGroup(XC, (ResourceQuota(NVIDIA_GPU, 4),))]},
        queued=[_job("anywhere", "A", 1, 1), elsewhere],
    )
    assert plan(snap, WEEK).within == {"anywhere"}


def test_the_guarantee_is_best_effort_fifo_and_preemption_still_follows_the_class() -> None:
    """A holds 8 GPUs: its class-900 job of 10 cannot be guaranteed, its class-100 job of 2
    behind it still is (Kueue's best-effort FIFO), yet the engine's priority rule ranks the
    two by class, so the guaranteed low job could never evict the high one."""
    snap = _snapshot(
        {"A": _gpu(8)},
        queued=[_job("high", "A", 10, 1, value=900), _job("low", "A", 2, 2, value=100)],
    )
    policy = plan(snap, WEEK)
    assert policy.within == {"low"}
    assert policy.priority["low"] == 640 > policy.priority["high"] == 114
    problem = build_problem(snap, policy=policy).problem
    assert problem is not None and problem.job_preempt_rank == (900, 100)


def test_a_job_short_of_one_resource_does_not_hold_back_work_needing_another() -> None:
    """A holds 8 GPUs and 4 cores: a class-900 job short of GPUs borrows, and a class-100 job
    needing only cores is guaranteed behind it (it takes nothing the first one lacks)."""
    quota = [QuotaGroup({}, (ResourceQuota(NVIDIA_GPU, 8), ResourceQuota(CPU, 4000)))]
    cpu_only = _job("cpu", "A", 0, 2, value=100)
    cpu_only = replace(cpu_only, spec=replace(cpu_only.spec, resources={CPU: 2000}))
    snap = _snapshot({"A": quota}, queued=[_job("gpus", "A", 10, 1, value=900), cpu_only])
    assert plan(snap, WEEK).within == {"cpu"}


def test_a_resource_counts_in_its_first_group_with_a_nominal_only() -> None:
    """A's GPUs are guaranteed on the 信创 group (4) and its cores on the whole pool: a job
    needing 2 GPUs and a core is guaranteed through both; one needing 6 GPUs is not, and is
    not guaranteed through the pool group either, which lists no GPU for A."""
    quota = [
        QuotaGroup(XC, (ResourceQuota(NVIDIA_GPU, 4),)),
        QuotaGroup({}, (ResourceQuota(CPU, 8000),)),
    ]
    snap = _snapshot(
        {"A": quota}, queued=[_job("big", "A", 6, 1, value=500), _job("fits", "A", 2, 2)]
    )
    assert plan(snap, WEEK).within == {"fits"}


def test_a_department_with_no_nominal_for_a_resource_it_needs_borrows() -> None:
    """B lists GPUs with nominal 0 (it contributed none): its GPU job borrows even though its
    cores are within nominal."""
    quota = [QuotaGroup({}, (ResourceQuota(NVIDIA_GPU, 0), ResourceQuota(CPU, 8000)))]
    snap = _snapshot({"B": quota}, queued=[_job("g", "B", 1, 1, value=500)])
    assert plan(snap, WEEK).within == frozenset()


def _with_cpu_cluster(snap: Snapshot) -> Snapshot:
    """`snap` plus cpu-x, labelled kind=cpu, whose one node has 64 cores and no GPU."""
    spec = ClusterSpec("cpu-x", "hz", labels={"kind": "cpu"})
    return replace(
        snap,
        clusters=(*snap.clusters, Cluster(spec, ClusterState.ACTIVE, NOW, NOW)),
        states={**snap.states, "cpu-x": ClusterState.ACTIVE},
        nodes=(*snap.nodes, Node("cpu-x", "n1", {CPU: 64000})),
    )


def test_a_job_counts_only_where_its_replicas_could_ever_run() -> None:
    """A's cores are guaranteed first on the CPU clusters (4, all taken by its running CPU job)
    and then on the whole pool (8), its GPUs on the pool (8). A queued GPU job needs a core and
    2 GPUs: it can never run on cpu-x (no GPU there), so its core counts in the pool group and
    it is guaranteed. Counted against the CPU group, where its constraints alone allow it, it
    borrowed, and could not reclaim the GPUs its department contributed."""
    quota = [
        QuotaGroup({"kind": "cpu"}, (ResourceQuota(CPU, 4000),)),
        QuotaGroup({}, (ResourceQuota(CPU, 8000), ResourceQuota(NVIDIA_GPU, 8))),
    ]
    busy = _job("busy", "A", 0, 1, state=JobState.RUNNING)
    busy = replace(busy, spec=replace(busy.spec, resources={CPU: 4000}))
    snap = _with_cpu_cluster(
        _snapshot({"A": quota}, running=[(busy, "cpu-x")], queued=[_job("gpu", "A", 2, 2)])
    )
    assert plan(snap, WEEK).within == {"busy", "gpu"}


def test_jobs_of_one_department_differing_only_in_cluster_affinity_count_apart() -> None:
    """Two queued jobs alike but for their cluster affinity: the one bound to xc is guaranteed
    by A's 信创 group, the one bound to gpu-a (outside the group) borrows. The eligible
    clusters were once cached by 等保 level, regions and 信创 alone, so both got xc's."""
    quota = [QuotaGroup(XC, (ResourceQuota(NVIDIA_GPU, 4),))]
    jobs = []
    for i, cluster in enumerate(("xc", "gpu-a")):
        job = _job(f"on-{cluster}", "A", 1, i + 1)
        constraints = replace(job.spec.constraints, clusters=(cluster,))
        jobs.append(replace(job, spec=replace(job.spec, constraints=constraints)))
    assert plan(_snapshot({"A": quota}, queued=jobs), WEEK).within == {"on-xc"}
