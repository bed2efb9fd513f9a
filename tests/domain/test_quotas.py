"""Quota, department-path and priority-class validation against hand-worked cases."""

from __future__ import annotations

import pytest

from scheduler.domain.errors import InvalidSpec
from scheduler.domain.quotas import (
    MAX_DEPTH,
    PriorityClass,
    QuotaGroup,
    ResourceQuota,
    check_hierarchy,
    cluster_group_labels,
    in_subtree,
    selector_from_key,
    selector_key,
    selects,
    usage_by_group,
    validate_department_path,
    validate_priority_class,
    validate_quotas,
    validate_selector,
)

Q = ResourceQuota


def test_path_names_imply_their_parent() -> None:
    """A name's parent is the name up to its last '/', and a given parent must agree."""
    assert validate_department_path("交通局", "") == ""
    assert validate_department_path("交通局/信号处", "") == "交通局"
    assert validate_department_path("交通局/信号处", "交通局") == "交通局"
    with pytest.raises(InvalidSpec) as err:
        validate_department_path("信号处", "交通局")
    assert err.value.field == "name" and "'交通局/'" in err.value.message


@pytest.mark.parametrize(
    "name", ["", "a//b", "/a", "a/", " a", "a/ b", "x" * 65, "a\nb", "/".join("abcde")]
)
def test_bad_department_paths_are_refused_on_name(name: str) -> None:
    """Empty parts, surrounding spaces, control characters, over 64 characters and more than
    MAX_DEPTH levels are refused, naming `name`."""
    with pytest.raises(InvalidSpec) as err:
        validate_department_path(name, "")
    assert err.value.field == "name"


def test_depth_bound_is_inclusive() -> None:
    """Exactly MAX_DEPTH levels are allowed."""
    name = "/".join(f"d{i}" for i in range(MAX_DEPTH))
    assert validate_department_path(name, "") == name.rpartition("/")[0]


def test_subtree_is_the_name_and_its_path_descendants() -> None:
    """A subtree holds the name and names below it, not names that merely share a prefix."""
    assert in_subtree("交通局", "交通局") and in_subtree("交通局/信号处", "交通局")
    assert not in_subtree("交通局二", "交通局") and not in_subtree("交通局", "交通局/信号处")


def test_quota_bounds_name_the_field() -> None:
    """Negative, absurd, duplicated and lend-above-nominal quotas each name their field."""
    cases = [
        ([Q("cpu", -1)], "quotas[0].nominal"),
        ([Q("cpu", 1, borrowing_limit=-5)], "quotas[0].borrowing_limit"),
        ([Q("memory", 1 << 41)], "quotas[0].nominal"),
        ([Q("cpu", 1), Q("cpu", 2)], "quotas[1].resource"),
        ([Q("CPU", 1)], "quotas[0].resource"),
        ([Q("cpu", 4000, lending_limit=4001)], "quotas[0].lending_limit"),
    ]
    for quotas, field in cases:
        with pytest.raises(InvalidSpec) as err:
            validate_quotas(quotas)
        assert err.value.field == field, quotas
    ok = validate_quotas([Q("memory", 0), Q("cpu", 64000, None, 16000)])
    assert [q.resource for q in ok] == ["cpu", "memory"]


def test_children_nominal_may_reach_but_not_pass_the_parent() -> None:
    """Parent 交通局 holds cpu 64 cores; sibling 路政处 holds 40: 信号处 may take 24 (sum 64)
    but not 25 (sum 65), and the error names its quotas[i].nominal and the numbers."""
    parent = {"cpu": 64000}
    siblings = {"交通局/路政处": {"cpu": 40000}}
    check_hierarchy("交通局/信号处", [Q("cpu", 24000)], "交通局", parent, siblings, {})
    with pytest.raises(InvalidSpec) as err:
        check_hierarchy(
            "交通局/信号处", [Q("memory", 1), Q("cpu", 25000)], "交通局", parent, siblings, {}
        )
    assert err.value.field == "quotas[1].nominal"
    assert "cpu=65" in err.value.message and "cpu=64" in err.value.message


def test_a_resource_the_parent_lacks_is_nominal_zero() -> None:
    """Without a parent row for gpu, a child may not have any gpu nominal."""
    with pytest.raises(InvalidSpec) as err:
        check_hierarchy("a/b", [Q("nvidia.com/gpu", 1)], "a", {"cpu": 1000}, {}, {})
    assert err.value.field == "quotas[0].nominal" and "nvidia.com/gpu=0" in err.value.message


def test_lowering_a_parent_below_its_children_is_refused() -> None:
    """Children hold 16 + 8 = 24 cores: the parent may set 24, not 23, nor drop cpu."""
    children = {"a/x": {"cpu": 16000}, "a/y": {"cpu": 8000}}
    check_hierarchy("a", [Q("cpu", 24000)], "", None, {}, children)
    with pytest.raises(InvalidSpec) as err:
        check_hierarchy("a", [Q("cpu", 23000)], "", None, {}, children)
    assert err.value.field == "quotas[0].nominal" and "'a/x'" in err.value.message
    with pytest.raises(InvalidSpec) as err:
        check_hierarchy("a", [], "", None, {}, children)
    assert err.value.field == "quotas"


def test_selectors_are_canonical_and_bounded() -> None:
    """The key is order-independent JSON, round-trips, and bounds are enforced."""
    a = selector_key({"xinchuang": "true", "gpu": "a100"})
    assert (
        a
        == selector_key({"gpu": "a100", "xinchuang": "true"})
        == '{"gpu":"a100","xinchuang":"true"}'
    )
    assert selector_from_key(a) == {"gpu": "a100", "xinchuang": "true"}
    assert selector_key({}) == "{}"
    with pytest.raises(InvalidSpec) as err:
        validate_selector({str(i): "" for i in range(9)}, "cluster_selector")
    assert err.value.field == "cluster_selector"
    with pytest.raises(InvalidSpec) as err:
        validate_selector({"k": "v" * 64}, "cluster_selector")
    assert err.value.field == "cluster_selector[k]"


def test_cluster_groups_select_on_spec_derived_labels() -> None:
    """`xinchuang` comes from the spec and overrides a contradicting label."""
    labels = cluster_group_labels({"gpu": "a100", "xinchuang": "true"}, False, "hz", 3)
    assert labels["xinchuang"] == "false" and labels["security_level"] == "3"
    assert selects({"gpu": "a100"}, labels) and selects({}, labels)
    assert not selects({"xinchuang": "true"}, labels)


def test_borrowed_is_usage_above_nominal() -> None:
    """Using 80 cores of a 64-core nominal borrows 16; using 10 borrows 0."""
    group = QuotaGroup({}, (Q("cpu", 64000), Q("memory", 1024)))
    [g] = usage_by_group([group], {"{}": {"cpu": 80000, "memory": 10}}, 600)
    assert [(u.resource, u.used, u.borrowed) for u in g.resources] == [
        ("cpu", 80000, 16000),
        ("memory", 10, 0),
    ]


def test_priority_class_bounds() -> None:
    """Names are DNS-like, values 0-1000, descriptions bounded."""
    validate_priority_class(PriorityClass("urgent", 1000, False, True))
    for pc, field in (
        (PriorityClass("Urgent", 1, False, False), "name"),
        (PriorityClass("x", 1001, False, False), "value"),
        (PriorityClass("x", -1, False, False), "value"),
        (PriorityClass("x", 1, False, False, "d" * 257), "description"),
    ):
        with pytest.raises(InvalidSpec) as err:
            validate_priority_class(pc)
        assert err.value.field == field
