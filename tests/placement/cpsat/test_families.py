"""One tiny problem with a known optimum per constraint family of the exact CP-SAT model.

Every solve goes through `exact`, which also asserts that the checker accepts the answer and
that the model's objective and proven bound equal the evaluator's value.
"""

from __future__ import annotations

from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.solver import CpSatModel
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.scale import job_work
from scheduler.placement.model import Balance, ObjectiveWeights, Override, Quota, Service
from tests.placement.cpsat.helpers import LIMITS, ROADEF, ROADEF_BEST_COST, exact, tiny

CPU_MEM_GPU = ("cpu", "mem", "gpu")


def test_capacity_counts_reserved_usage() -> None:
    """Node 0 has 2 of 4 cpu reserved, so 1 + 2 of the four 2-cpu jobs fit: optimum 3 placed."""
    p = tiny(node_reserved=((2, 0), (0, 0)), job_demand=((2, 1),) * 4)
    result, _ = exact(p)
    assert result.solution is not None
    placed = [nodes for nodes in result.solution.assignment if nodes is not None]
    assert len(placed) == 3
    assert sum(nodes.count(0) for nodes in placed) == 1


def test_demand_override_by_node_type() -> None:
    """On type-1 node 1 the job needs 2 cpu instead of 4: three jobs fit (one on node 0, two on
    node 1), where base demands alone would fit two."""
    p = tiny(
        node_type=(0, 1),
        job_demand=((4, 1),) * 3,
        overrides=tuple(Override(job=j, node_type=1, demand=(2, 1)) for j in range(3)),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert sorted(n for nodes in result.solution.assignment for n in nodes or ()) == [0, 1, 1]


def test_gang_stays_in_one_group() -> None:
    """Each group's single node holds one 3-cpu replica, so the 2-replica gang cannot run and the
    single job takes a node: optimum places only the single job."""
    p = tiny(
        node_group=(0, 1),
        group_cost=((0, 0), (0, 0)),
        job_demand=((3, 1), (3, 1)),
        job_replicas=(2, 1),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert result.solution.assignment[0] is None
    assert result.solution.assignment[1] is not None


def test_eligibility_overrides_price() -> None:
    """The job may only use node 1, whose group charges 5 per cpu: it goes there, money 5 x 2."""
    p = tiny(
        node_group=(0, 1),
        group_cost=((0, 0), (5, 0)),
        node_sets=((1,),),
        job_demand=((2, 1),),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((1,),)
    assert evaluation.money == 10


def _gpu_node(devices: int, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "resources": CPU_MEM_GPU,
        "node_capacity": ((8, 8, 1000 * devices),),
        "node_group": (0,),
        "node_sets": ((0,),),
        "group_cost": ((0, 0, 0),),
        "node_devices": (devices,),
        "gpu_resource": 2,
    }
    base.update(changes)
    return base


def test_whole_devices_are_exclusive() -> None:
    """Two devices: the whole-device job takes one, and the two 600-shares cannot share the
    other (1200 > 1000); optimum places the whole job and one share (more work than both
    shares), on distinct devices."""
    p = tiny(**_gpu_node(2), job_demand=((1, 1, 1000), (1, 1, 600), (1, 1, 600)))
    result, _ = exact(p)
    s = result.solution
    assert s is not None
    assert s.assignment[0] == (0,)
    assert (s.assignment[1] is None) != (s.assignment[2] is None)
    used = [ids for per_job in s.devices if per_job is not None for ids in per_job]
    assert len({d for ids in used for d in ids}) == 2


def test_shares_pack_with_least_fragmentation() -> None:
    """Shares 500, 500 and 300 on two devices: 500 + 500 fill one device and 300 leaves one
    partly used, so the optimum has fragmentation 1 (500 + 300 | 500 would have 2)."""
    p = tiny(**_gpu_node(2), job_demand=((1, 1, 500), (1, 1, 500), (1, 1, 300)))
    result, evaluation = exact(p)
    s = result.solution
    assert s is not None and all(nodes is not None for nodes in s.assignment)
    assert evaluation.fragmentation == 1
    assert s.devices[0] == s.devices[1]


def test_migration_frees_room_for_queued_work() -> None:
    """The 4-cpu job fits only node 0, where a migratable 2-cpu job runs: moving it to node 1
    (cost 5) lets both run, so the optimum has migration 5."""
    p = tiny(
        node_capacity=((4, 8), (2, 8)),
        job_demand=((2, 1), (4, 1)),
        job_current=((0,), None),
        job_move_cost=(5, -1),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((1,), (0,))
    assert evaluation.migration == 5


def test_running_job_that_cannot_migrate_stays() -> None:
    """The same as above with a job that may not move: it stays, and the queued job waits."""
    p = tiny(
        node_capacity=((4, 8), (2, 8)),
        job_demand=((2, 1), (4, 1)),
        job_current=((0,), None),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((0,), None)
    assert evaluation.migration == 0


def test_node_move_cost_picks_the_cheaper_target() -> None:
    """The running job must leave node 0; moving to node 2 costs 1 + 3, to node 1 costs 1 + 7:
    optimum migration 4 on node 2."""
    p = tiny(
        node_capacity=((4, 8), (2, 8), (2, 8)),
        node_group=(0, 0, 0),
        node_sets=((0, 1, 2), (0,)),
        job_demand=((2, 1), (4, 1)),
        job_nodes=(0, 1),
        job_current=((0,), None),
        job_move_cost=(1, -1),
        node_move_cost=((0, 7, 3), (7, 0, 1), (3, 1, 0)),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((2,), (0,))
    assert evaluation.migration == 4


def test_transient_usage_holds_the_old_node() -> None:
    """With cpu transient, a job moving off node 0 still holds its 2 cpu there, so the 4-cpu
    job cannot use node 0 in the same decision: optimum keeps the running job and waits."""
    p = tiny(
        node_capacity=((4, 8), (2, 8)),
        node_sets=((0, 1), (0,)),
        job_demand=((2, 1), (4, 1)),
        job_nodes=(0, 1),
        job_current=((0,), None),
        job_move_cost=(5, -1),
        transient=(True, False),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((0,), None)


def test_service_move_weight_charges_the_largest_service() -> None:
    """Both members of a service must leave node 0 for the 4-cpu job: 2 moves at 1 each, plus
    service_move_weight 10 x 2 moved replicas in the service: migration 22."""
    p = tiny(
        node_sets=((0, 1), (0,)),
        job_demand=((1, 1), (1, 1), (4, 1)),
        job_nodes=(0, 0, 1),
        job_current=((0,), (0,), None),
        job_move_cost=(1, 1, -1),
        services=(Service(jobs=(0, 1)),),
        service_move_weight=10,
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((1,), (1,), (0,))
    assert evaluation.migration == 22


def _preemption(priority: int, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "node_capacity": ((4, 8),),
        "node_group": (0,),
        "node_sets": ((0,),),
        "job_demand": ((4, 1), (4, 8)),
        "job_priority": (0, priority),
        "job_current": ((0,), None),
        "job_preempt_cost": (3, -1),
    }
    base.update(changes)
    return base


def test_preemption_for_higher_priority_work() -> None:
    """A priority-5 job needs the only node: the preemptible priority-0 job is evicted at
    cost 3 (the optimum)."""
    result, evaluation = exact(tiny(**_preemption(5)))
    assert result.solution is not None
    assert result.solution.assignment == (None, (0,))
    assert evaluation.preemption == 3


def test_no_preemption_for_equal_priority_work() -> None:
    """An equal-priority job with more work may not evict a running job: optimum keeps it."""
    result, evaluation = exact(tiny(**_preemption(0)))
    assert result.solution is not None
    assert result.solution.assignment == ((0,), None)
    assert evaluation.preemption == 0


def test_preemption_reclaims_borrowed_quota() -> None:
    """The running job's department uses 4 cpu against a nominal 2 (borrowing), so it may be
    evicted for an equal-priority job worth more work: the optimum does."""
    p = tiny(
        **_preemption(0),
        job_department=(0, 1),
        quotas=(Quota(department=0, resource=0, nominal=2, borrow_limit=2),),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == (None, (0,))


def test_required_job_displaces_more_valuable_work() -> None:
    """Only one of the two 4-cpu jobs fits; the required one is placed even though the other
    has priority 9."""
    p = tiny(
        node_capacity=((4, 8),),
        node_group=(0,),
        node_sets=((0,),),
        job_demand=((4, 1), (4, 1)),
        job_priority=(0, 9),
        job_required=(True, False),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((0,), None)


def test_unplaceable_required_job_is_infeasible() -> None:
    """A required job larger than every node: CP-SAT proves the problem infeasible."""
    p = tiny(job_demand=((5, 1),), job_required=(True,))
    model = CpSatModel(Facts(p), TermWeights.of(p, ObjectiveWeights()), job_work(p))
    assert model.solve(LIMITS).status == "INFEASIBLE"


def test_quota_caps_department_usage() -> None:
    """Nominal 3 + borrowing 1 cpu: four of the six 1-cpu jobs of the department run."""
    p = tiny(
        job_demand=((1, 1),) * 6,
        job_department=(0,) * 6,
        quotas=(Quota(department=0, resource=0, nominal=3, borrow_limit=1),),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert sum(nodes is not None for nodes in result.solution.assignment) == 4


def test_anti_affinity_uses_distinct_nodes() -> None:
    """Three anti-affinity replicas, two nodes: the 2-replica gang (more work) takes both nodes
    and the single job waits."""
    p = tiny(
        job_demand=((1, 1), (1, 1)),
        job_replicas=(2, 1),
        services=(Service(jobs=(0, 1), anti_affinity=True),),
    )
    result, _ = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((0, 1), None)


def test_spread_covers_the_minimum_of_domains() -> None:
    """Zone 1's node costs 10 to open, but the service must cover 2 zones: one replica there,
    energy 10 (the optimum)."""
    p = tiny(
        node_capacity=((4, 8),) * 3,
        node_group=(0, 0, 0),
        node_sets=((0, 1, 2),),
        node_domains=((0,), (0,), (1,)),
        domain_keys=("zone",),
        node_open_cost=(0, 0, 10),
        job_demand=((1, 1),),
        job_replicas=(2,),
        services=(Service(jobs=(0,), spread_key=0, spread_min=2),),
    )
    result, evaluation = exact(p)
    s = result.solution
    assert s is not None and s.assignment[0] is not None
    assert {p.node_domains[n][0] for n in s.assignment[0]} == {0, 1}
    assert evaluation.energy == 10


def test_affinity_follows_the_dependency() -> None:
    """Service 1's job depends on service 0 by zone; service 0 can only run in zone 1, so the
    dependant pays group 1's price (3 per cpu) instead of the free zone-0 node."""
    p = tiny(
        node_capacity=((4, 8), (4, 8)),
        node_group=(0, 1),
        group_cost=((0, 0), (3, 0)),
        node_sets=((1,), (0, 1)),
        node_domains=((0,), (1,)),
        domain_keys=("zone",),
        job_demand=((1, 1), (1, 1)),
        job_nodes=(0, 1),
        services=(Service(jobs=(0,)), Service(jobs=(1,), depends_on=(0,), affinity_key=0)),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((1,), (1,))
    assert evaluation.money == 6


def test_load_above_safety_spreads_work() -> None:
    """Safety 2 cpu per node with load weight 1: one 2-cpu job per node costs nothing, both on
    one node would cost 2; optimum load 0."""
    p = tiny(
        node_safety=((2, 8), (2, 8)),
        load_weight=(1, 0),
        job_demand=((2, 1), (2, 1)),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert evaluation.load == 0
    assert {nodes for nodes in result.solution.assignment} == {(0,), (1,)}


def test_balance_pairs_complementary_jobs() -> None:
    """Balance target 1 (cpu left <= mem left): a mem-only and a cpu-only job on the same node
    leave both nodes balanced (0); apart, the mem-only job's node is 4 out: optimum 0."""
    p = tiny(
        node_capacity=((4, 4), (4, 4)),
        balances=(Balance(r1=0, r2=1, target=1, weight=1),),
        job_demand=((0, 4), (4, 0)),
    )
    result, evaluation = exact(p)
    s = result.solution
    assert s is not None and s.assignment[0] is not None
    assert s.assignment[0] == s.assignment[1]
    assert evaluation.balance == 0


def test_open_node_cost_consolidates() -> None:
    """Opening a node costs 5; both jobs fit one node: optimum energy 5."""
    p = tiny(node_open_cost=(5, 5), job_demand=((2, 1), (2, 1)))
    result, evaluation = exact(p)
    s = result.solution
    assert s is not None
    assert s.assignment[0] == s.assignment[1]
    assert evaluation.energy == 5


def test_vector_bin_packing_minimises_open_nodes() -> None:
    """Four required items into (10, 10) bins: (6, 2) + (4, 8) and (5, 5) + (5, 5) fill two
    bins exactly, and no single bin holds them all: optimum 2 open nodes."""
    p = tiny(
        node_capacity=((10, 10),) * 4,
        node_group=(0,) * 4,
        node_sets=((0, 1, 2, 3),),
        node_open_cost=(1,) * 4,
        job_demand=((6, 2), (4, 8), (5, 5), (5, 5)),
        job_required=(True,) * 4,
    )
    _, evaluation = exact(p)
    assert evaluation.energy == 2


def test_generalized_assignment_minimises_total_cost() -> None:
    """Three required jobs, two agents of capacity 5 (one node type each): costs (2, 9),
    (6, 1), (3, 4) and sizes 3, 3, 2; agent 0 holds at most jobs {0, 2}, so the optimum is
    0 -> a0, 1 -> a1, 2 -> a0 at cost 2 + 1 + 3 = 6."""
    costs = ((2, 9), (6, 1), (3, 4))
    p = tiny(
        resources=("cap",),
        node_capacity=((5,), (5,)),
        node_type=(0, 1),
        group_cost=((0,),),
        job_demand=((3,), (3,), (2,)),
        job_required=(True,) * 3,
        overrides=tuple(
            Override(job=j, node_type=t, cost=c)
            for j, row in enumerate(costs)
            for t, c in enumerate(row)
        ),
    )
    result, evaluation = exact(p)
    assert result.solution is not None
    assert result.solution.assignment == ((0,), (1,), (0,))
    assert evaluation.money == 6


def test_identical_jobs_share_variables_and_the_oldest_run() -> None:
    """Five identical 2-cpu jobs, room for four: one job class (one count per node), and the
    four oldest by job_order run."""
    p = tiny(job_demand=((2, 1),) * 5, job_order=(4, 3, 2, 1, 0))
    model = CpSatModel(Facts(p), TermWeights.of(p, ObjectiveWeights()), job_work(p))
    assert model.pairs == 2
    result, _ = exact(p)
    assert result.solution is not None
    placed = {j for j, nodes in enumerate(result.solution.assignment) if nodes is not None}
    assert placed == {1, 2, 3, 4}


def test_roadef_statement_example() -> None:
    """The ROADEF 2012 statement's example (load, balance, transient usage, machine and service
    move costs, conflicts, spread, dependency): the optimum costs 2,411 as published."""
    _, evaluation = exact(ROADEF)
    assert evaluation.work_weight * evaluation.work - evaluation.value == ROADEF_BEST_COST
