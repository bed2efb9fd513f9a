"""Job and node classes: identical jobs and interchangeable nodes merge, nothing else does."""

from __future__ import annotations

from dataclasses import replace

from scheduler.placement.index.aggregate import View, classify
from scheduler.placement.model import Override, Problem, Quota

# Four nodes in two groups, seven jobs; nodes 0 and 1 are twins, so are jobs 0, 1 and 6 (6 is
# of another department, which has no quota).
BASE = Problem(
    resources=("cpu", "mem"),
    node_capacity=((8, 16), (8, 16), (8, 32), (8, 16)),
    node_group=(0, 0, 0, 1),
    group_cost=((1, 1), (2, 2)),
    node_sets=((0, 1, 2, 3), (0, 1)),
    job_demand=((2, 4), (2, 4), (2, 5), (2, 4), (2, 4), (2, 4), (2, 4)),
    job_replicas=(1, 1, 1, 2, 1, 1, 1),
    job_priority=(0, 0, 0, 0, 3, 0, 0),
    job_order=(6, 5, 4, 3, 2, 1, 0),
    job_nodes=(0, 0, 0, 0, 0, 1, 0),
    job_department=(0, 0, 0, 0, 0, 0, 1),
)


def test_identical_jobs_share_a_class_and_any_difference_separates() -> None:
    """Jobs 0, 1 and 6 merge; demand, replicas, priority and node set each split a class."""
    classes = classify(View(BASE))
    assert {c.jobs for c in classes.jobs} == {(6, 1, 0), (2,), (3,), (4,), (5,)}


def test_members_are_in_fifo_order() -> None:
    """A class lists its jobs oldest first, so partial placements take the oldest."""
    classes = classify(View(BASE))
    merged = next(c for c in classes.jobs if len(c.jobs) == 3)
    assert merged.jobs == (6, 1, 0)


def test_department_splits_only_with_a_quota() -> None:
    """Jobs of different departments merge unless one of the departments has a quota."""
    quota = replace(BASE, quotas=(Quota(1, 0, 100),))
    assert {c.jobs for c in classify(View(quota)).jobs} == {(1, 0), (6,), (2,), (3,), (4,), (5,)}


def test_overrides_and_required_separate_jobs() -> None:
    """A per-type override or a required flag makes a job its own class."""
    over = replace(BASE, overrides=(Override(job=1, node_type=0, cost=7),))
    assert not any(set(c.jobs) == {0, 1} for c in classify(View(over)).jobs)
    required = replace(BASE, job_required=(False, True, False, False, False, False, False))
    assert not any(set(c.jobs) == {0, 1} for c in classify(View(required)).jobs)


def test_interchangeable_nodes_share_a_class() -> None:
    """Nodes 0 and 1 merge; capacity (node 2) and group (node 3) keep the others apart."""
    classes = classify(View(BASE))
    assert {c.nodes for c in classes.nodes} == {(0, 1), (2,), (3,)}


def test_node_set_membership_type_and_open_cost_separate_nodes() -> None:
    """Twin nodes split when a node set holds only one of them, or type or open cost differ."""
    sets = replace(BASE, node_sets=((0, 1, 2, 3), (0,)), job_nodes=(0, 0, 0, 0, 0, 1, 0))
    assert (0, 1) not in {c.nodes for c in classify(View(sets)).nodes}
    typed = replace(BASE, node_type=(0, 1, 0, 0))
    assert (0, 1) not in {c.nodes for c in classify(View(typed)).nodes}
    opened = replace(BASE, node_open_cost=(1, 0, 0, 0))
    assert (0, 1) not in {c.nodes for c in classify(View(opened)).nodes}


def test_fixed_running_job_leaves_the_classes_and_its_node() -> None:
    """A running job that can neither move nor be evicted is in no class and its usage comes
    off its node, which then differs from its twin; a movable one stays a class of its own."""
    running = (None, (0,), None, None, None, None, None)
    fixed = replace(BASE, job_current=running)
    classes = classify(View(fixed))
    assert all(1 not in c.jobs for c in classes.jobs)
    node0 = next(c for c in classes.nodes if 0 in c.nodes)
    assert node0.nodes == (0,)
    assert node0.free == (6, 12)
    assert node0.forced_open
    movable = replace(fixed, job_move_cost=(-1, 5, -1, -1, -1, -1, -1))
    mine = next(c for c in classify(View(movable)).jobs if 1 in c.jobs)
    assert mine.jobs == (1,) and mine.flexible and mine.required
