"""Validation of engine-v2 problems: each field family rejects bad data, naming the index."""

from __future__ import annotations

import pytest

from scheduler.placement.model import Balance, Override, Quota, Service
from scheduler.placement.model.validate import InvalidProblem
from tests.placement.build import BASE, ROADEF, jobs, tiny


def test_valid_problems_pass() -> None:
    """The shared examples are valid, so construction returns normally."""
    assert BASE.num_jobs == 1
    assert ROADEF.num_nodes == 4


def test_resources() -> None:
    """Resources are a non-empty tuple of distinct names; per-resource vectors match them."""
    with pytest.raises(InvalidProblem, match="at least one resource"):
        tiny(resources=(), node_capacity=((),) * 2, group_cost=((),), job_demand=((),))
    with pytest.raises(InvalidProblem, match="resource 1: name 'cpu' repeats"):
        tiny(resources=("cpu", "cpu"))
    with pytest.raises(InvalidProblem, match="load_weight has 1 entries, expected 2"):
        tiny(load_weight=(1,))
    with pytest.raises(InvalidProblem, match="resource 0: transient must be a bool"):
        tiny(transient=(1, False))
    with pytest.raises(InvalidProblem, match="gpu_resource must be -1 or a resource index"):
        tiny(gpu_resource=2)


def test_resource_value() -> None:
    """resource_value: one non-negative int per resource, at least one positive, summing to at
    most MAX_RESOURCE_VALUE; empty means 1 each."""
    assert tiny(resource_value=(0, 3)).resource_value == (0, 3)
    with pytest.raises(InvalidProblem, match="resource_value has 1 entries, expected 2 or 0"):
        tiny(resource_value=(1,))
    with pytest.raises(InvalidProblem, match="resource 1: resource_value must be >= 0, got -1"):
        tiny(resource_value=(1, -1))
    with pytest.raises(InvalidProblem, match="resource 0: resource_value must be an integer"):
        tiny(resource_value=(True, 1))
    with pytest.raises(InvalidProblem, match="resource 1: resource_value must be <= 64, got 65"):
        tiny(resource_value=(0, 65))
    with pytest.raises(InvalidProblem, match="resource_value must give at least one resource"):
        tiny(resource_value=(0, 0))
    with pytest.raises(InvalidProblem, match="resource_value sums to 70, at most 64"):
        tiny(resource_value=(40, 30))
    with pytest.raises(InvalidProblem, match="resource_value must be a tuple"):
        tiny(resource_value=[1, 1])


def test_node_rows() -> None:
    """Node matrices have one row per node, one non-negative int per resource."""
    with pytest.raises(InvalidProblem, match=r"node 1: capacity\[mem\] must be >= 0, got -1"):
        tiny(node_capacity=((4, 8), (4, -1)))
    with pytest.raises(InvalidProblem, match=r"node 0: capacity has 1 entries, expected 2"):
        tiny(node_capacity=((4,), (4, 8)))
    with pytest.raises(InvalidProblem, match=r"node 1: capacity\[cpu\] must be an integer"):
        tiny(node_capacity=((4, 8), (True, 8)))
    with pytest.raises(InvalidProblem, match="node 1: group 3 does not exist"):
        tiny(node_group=(0, 3))
    with pytest.raises(InvalidProblem, match=r"node 0: reserved\[mem\] = 9 exceeds capacity"):
        tiny(node_reserved=((0, 9), (0, 0)))
    with pytest.raises(InvalidProblem, match="node_safety has 1 entries, expected 2 or 0"):
        tiny(node_safety=((1, 1),))
    with pytest.raises(InvalidProblem, match="node 1: open_cost must be >= 0"):
        tiny(node_open_cost=(0, -5))
    with pytest.raises(InvalidProblem, match=r"group 0: cost\[cpu\] must be >= 0"):
        tiny(group_cost=((-1, 1),))


def test_domains_and_move_costs() -> None:
    """Topology domains need key names; node_move_cost is N x N, non-negative, zero diagonal."""
    with pytest.raises(InvalidProblem, match="node_domains needs domain_keys"):
        tiny(node_domains=((0,), (1,)))
    with pytest.raises(InvalidProblem, match=r"node 1: domains\[zone\] must be >= 0"):
        tiny(node_domains=((0,), (-1,)), domain_keys=("zone",))
    with pytest.raises(InvalidProblem, match=r"node 1: move_cost\[1\] must be 0"):
        tiny(node_move_cost=((0, 1), (1, 3)))
    with pytest.raises(InvalidProblem, match=r"node 0: move_cost\[1\] must be >= 0"):
        tiny(node_move_cost=((0, -1), (1, 0)))
    with pytest.raises(InvalidProblem, match="node_move_cost has 1 rows, expected 2"):
        tiny(node_move_cost=((0, 1),))


def test_node_sets() -> None:
    """Node sets are distinct, ascending, without repeats, and name existing nodes."""
    with pytest.raises(InvalidProblem, match="node set 0: nodes must be ascending"):
        tiny(node_sets=((1, 0),))
    with pytest.raises(InvalidProblem, match="node set 0: nodes must be ascending"):
        tiny(node_sets=((0, 0),))
    with pytest.raises(InvalidProblem, match=r"node set 0: node 2 does not exist \(2 nodes\)"):
        tiny(node_sets=((0, 2),))
    with pytest.raises(InvalidProblem, match="node set 1: repeats node set 0"):
        tiny(node_sets=((0, 1), (0, 1)))
    with pytest.raises(InvalidProblem, match="job 0: node set 1 does not exist"):
        tiny(job_nodes=(1,))


def test_gpu_devices() -> None:
    """Device nodes have capacity 1000 x devices, no reserved GPU, and demands are valid shares."""
    gpu = {"resources": ("cpu", "gpu"), "gpu_resource": 1, "node_devices": (4, 0)}
    with pytest.raises(
        InvalidProblem,
        match=r"node 0: capacity\[gpu\] must equal 1000 \* devices \(4 devices, capacity 8\)",
    ):
        tiny(**gpu)
    ok = {**gpu, "node_capacity": ((4, 4000), (4, 8))}
    assert tiny(**ok).node_devices == (4, 0)
    with pytest.raises(InvalidProblem, match=r"node 0: reserved\[gpu\] must be 0"):
        tiny(**ok, node_reserved=((0, 1000), (0, 0)))
    with pytest.raises(InvalidProblem, match=r"job 0: demand\[gpu\] = 1500 must be 0, 1..999"):
        tiny(**ok, job_demand=((1, 1500),))
    with pytest.raises(InvalidProblem, match=r"override 0: demand\[gpu\] = 2500"):
        tiny(**ok, overrides=(Override(job=0, node_type=0, demand=(1, 2500)),))
    with pytest.raises(InvalidProblem, match="node 0: has GPU devices but gpu_resource is -1"):
        tiny(node_devices=(1, 0))


def test_jobs() -> None:
    """Per-job vectors have one valid entry per job; FIFO ranks are unique."""
    with pytest.raises(InvalidProblem, match="job 0: replicas must be >= 1, got 0"):
        tiny(job_replicas=(0,))
    with pytest.raises(InvalidProblem, match="job 1: priority must be <= 1000, got 1001"):
        jobs(2, job_priority=(0, 1001))
    with pytest.raises(InvalidProblem, match="job 1: order 0 repeats job 0's"):
        jobs(2, job_order=(0, 0))
    with pytest.raises(InvalidProblem, match=r"job 0: demand\[cpu\] must be >= 0"):
        tiny(job_demand=((-1, 0),))
    with pytest.raises(InvalidProblem, match="job_priority has 2 entries, expected 1"):
        tiny(job_priority=(0, 0))
    with pytest.raises(InvalidProblem, match="job 0: job_required must be a bool"):
        tiny(job_required=(1,))
    with pytest.raises(InvalidProblem, match="job 0: move_cost must be >= -1"):
        tiny(job_move_cost=(-2,))
    with pytest.raises(InvalidProblem, match="job 0: preempt_cost must be >= -1"):
        tiny(job_preempt_cost=(-3,))
    with pytest.raises(InvalidProblem, match="job 0: department must be >= -1"):
        tiny(job_department=(-2,))


def test_running_jobs() -> None:
    """A running job lists one existing node per replica."""
    with pytest.raises(InvalidProblem, match=r"job 0: current lists 2 nodes, expected 1"):
        tiny(job_current=((0, 1),))
    with pytest.raises(InvalidProblem, match="job 0: current replica 0: node 5 does not exist"):
        tiny(job_current=((5,),))
    assert tiny(job_current=(None,)).job_current == (None,)


def test_overrides() -> None:
    """Overrides name an existing job and node type, once, with a full demand vector."""
    with pytest.raises(InvalidProblem, match="override 0: job 3 does not exist"):
        tiny(overrides=(Override(job=3, node_type=0),))
    with pytest.raises(InvalidProblem, match="override 0: node_type must be >= 0"):
        tiny(overrides=(Override(job=0, node_type=-1),))
    assert tiny(overrides=(Override(job=0, node_type=7, cost=1),)).overrides[0].node_type == 7
    with pytest.raises(InvalidProblem, match="override 0: demand has 1 entries, expected 2"):
        tiny(overrides=(Override(job=0, node_type=0, demand=(1,)),))
    with pytest.raises(InvalidProblem, match="override 1: repeats override 0"):
        tiny(overrides=(Override(job=0, node_type=0), Override(job=0, node_type=0, cost=1)))
    with pytest.raises(InvalidProblem, match="override 0: cost must be >= 0"):
        tiny(overrides=(Override(job=0, node_type=0, cost=-1),))


def test_quotas() -> None:
    """Quotas name a department and an existing resource, once, with non-negative limits."""
    with pytest.raises(InvalidProblem, match="quota 0: resource 2 does not exist"):
        tiny(quotas=(Quota(department=0, resource=2, nominal=1),))
    with pytest.raises(InvalidProblem, match="quota 0: department must be >= 0"):
        tiny(quotas=(Quota(department=-1, resource=0, nominal=1),))
    with pytest.raises(InvalidProblem, match="quota 1: repeats quota 0 for department 0"):
        tiny(quotas=(Quota(0, 0, 1), Quota(0, 0, 2)))
    with pytest.raises(InvalidProblem, match="quota 0: borrow_limit must be >= 0"):
        tiny(quotas=(Quota(0, 0, 1, -1),))


def test_services() -> None:
    """Services list existing member jobs once and consistent keys and dependencies."""
    zones = {"node_domains": ((0,), (1,)), "domain_keys": ("zone",)}
    with pytest.raises(InvalidProblem, match=r"service 0: member job 9 does not exist \(1 jobs\)"):
        tiny(services=(Service(jobs=(9,)),))
    with pytest.raises(InvalidProblem, match="service 0: a member job is listed twice"):
        tiny(services=(Service(jobs=(0, 0)),))
    with pytest.raises(InvalidProblem, match="service 0: spread_key 0 does not exist"):
        tiny(services=(Service(jobs=(0,), spread_key=0, spread_min=1),))
    with pytest.raises(InvalidProblem, match="service 0: spread_min 2 needs a spread_key"):
        tiny(services=(Service(jobs=(0,), spread_min=2),))
    with pytest.raises(InvalidProblem, match="service 0: depends on itself"):
        tiny(**zones, services=(Service(jobs=(0,), depends_on=(0,), affinity_key=0),))
    with pytest.raises(InvalidProblem, match="service 0: depends_on needs an affinity_key"):
        jobs(2, **zones, services=(Service(jobs=(0,), depends_on=(1,)), Service(jobs=(1,))))
    with pytest.raises(InvalidProblem, match="service 0: depends_on service 4 does not exist"):
        tiny(**zones, services=(Service(jobs=(0,), depends_on=(4,), affinity_key=0),))


def test_balances() -> None:
    """Balances name existing resources and have non-negative target and weight."""
    with pytest.raises(InvalidProblem, match="balance 0: resource 5 does not exist"):
        tiny(balances=(Balance(r1=0, r2=5, target=1, weight=1),))
    with pytest.raises(InvalidProblem, match="balance 0: weight must be >= 0"):
        tiny(balances=(Balance(r1=0, r2=1, target=1, weight=-1),))


def test_names_and_meta() -> None:
    """Optional names have one string per item; meta is (str, str) pairs."""
    with pytest.raises(InvalidProblem, match="node_names has 1 entries, expected 2 or 0"):
        tiny(node_names=("a",))
    with pytest.raises(InvalidProblem, match=r"job_names\[0\] must be a string"):
        tiny(job_names=(3,))
    with pytest.raises(InvalidProblem, match=r"meta\[0\] must be a \(str, str\) pair"):
        tiny(meta=(("a",),))
    assert tiny(node_names=("a", "b"), meta=(("instance", "x"),)).node_names == ("a", "b")
