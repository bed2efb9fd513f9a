"""Node taints against job tolerations, and cluster affinity / preference: validation that
names the field, and the eligibility the cycle, submit and ExplainJob share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.domain import reasons
from scheduler.domain.cluster_choice import preference_rank
from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches, rejection
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Cluster, ClusterSpec, Constraints, JobSpec, Node
from scheduler.domain.states import ClusterState
from scheduler.domain.taints import EXISTS, Taint, Toleration, untolerated
from scheduler.domain.validation import spec_digest, validate_job_spec, validate_node

NOW = datetime(2026, 12, 4, tzinfo=UTC)
GPU_ONLY = Taint("dedicated", "gpu", "NoSchedule")


def _cluster(name: str) -> Cluster:
    return Cluster(ClusterSpec(name=name, region="hz"), ClusterState.ACTIVE, NOW, NOW)


def _spec(**constraints: object) -> JobSpec:
    return JobSpec(
        client_id="x",
        command=("true",),
        resources={"cpu": 1000},
        constraints=Constraints(**constraints),  # type: ignore[arg-type]
    )


def _node(*taints: Taint, name: str = "n", **labels: str) -> Node:
    return Node("a", name, {"cpu": 8000}, labels, tuple(sorted(taints)))


def test_toleration_matching_follows_kubernetes() -> None:
    """Equal compares the value, Exists ignores it, an empty effect matches every effect and an
    empty key with Exists tolerates every taint."""
    assert Toleration("dedicated", "Equal", "gpu", "NoSchedule").tolerates(GPU_ONLY)
    assert not Toleration("dedicated", "Equal", "cpu").tolerates(GPU_ONLY)
    assert Toleration("dedicated", EXISTS).tolerates(GPU_ONLY)
    assert not Toleration("dedicated", EXISTS, effect="NoExecute").tolerates(GPU_ONLY)
    assert Toleration("", EXISTS).tolerates(GPU_ONLY)
    assert not Toleration("other", EXISTS).tolerates(GPU_ONLY)


def test_only_blocking_taints_keep_untolerating_jobs_off_a_node() -> None:
    """NoSchedule and NoExecute taints refuse a job that does not tolerate them;
    PreferNoSchedule never does; a tolerating job matches."""
    soft = Taint("spot", "", "PreferNoSchedule")
    evict = Taint("maintenance", "", "NoExecute")
    assert node_matches(_spec(), _node(soft))
    assert not node_matches(_spec(), _node(GPU_ONLY))
    assert not node_matches(_spec(), _node(evict))
    tolerating = _spec(tolerations=(Toleration("dedicated", "Equal", "gpu"),))
    assert node_matches(tolerating, _node(GPU_ONLY, soft))
    assert not node_matches(tolerating, _node(GPU_ONLY, evict))
    assert untolerated(tolerating.constraints.tolerations, [GPU_ONLY, evict]) == [evict]


def test_a_cluster_of_tainted_nodes_never_fits_an_untolerating_job() -> None:
    """Submit rejects a job whose only matching nodes are tainted, naming the taint (TAINTED);
    the labels still come first when no node has them."""
    nodes = [_node(GPU_ONLY, name="g0"), _node(GPU_ONLY, name="g1")]
    found = rejection(_spec(), [_cluster("a")], lambda _: nodes)
    assert found is not None
    assert found[2][0].reason == reasons.TAINTED
    assert "dedicated=gpu:NoSchedule" in found[2][0].message and "1 more" in found[2][0].message
    selector = rejection(_spec(node_selector={"arch": "arm"}), [_cluster("a")], lambda _: nodes)
    assert selector is not None and selector[2][0].reason == reasons.NODE_SELECTOR
    ok = _spec(tolerations=(Toleration("dedicated", EXISTS),))
    assert rejection(ok, [_cluster("a")], lambda _: nodes) is None


@pytest.mark.parametrize(
    ("toleration", "field", "fragment"),
    [
        (Toleration("bad key!", "Equal", "v"), "constraints.tolerations[0].key", "taint key"),
        (Toleration("", "Equal", "v"), "constraints.tolerations[0].key", "required"),
        (Toleration("k", "Maybe"), "constraints.tolerations[0].operator", "Equal or Exists"),
        (Toleration("k", EXISTS, "v"), "constraints.tolerations[0].value", "empty"),
        (Toleration("k", "Equal", "x" * 64), "constraints.tolerations[0].value", "taint value"),
        (Toleration("k", "Equal", "v", "Never"), "constraints.tolerations[0].effect", "NoSchedule"),
    ],
)
def test_bad_tolerations_are_refused_naming_the_field(
    toleration: Toleration, field: str, fragment: str
) -> None:
    """Each malformed toleration part is INVALID_ARGUMENT on its own field."""
    with pytest.raises(InvalidSpec) as err:
        validate_job_spec(_spec(tolerations=(toleration,)))
    assert err.value.field == field and fragment in err.value.message
    assert len(err.value.message) < 200


def test_tolerations_and_node_taints_are_bounded() -> None:
    """More than 16 tolerations, more than 32 node taints or a repeated key/effect are refused."""
    with pytest.raises(InvalidSpec) as many:
        validate_job_spec(_spec(tolerations=tuple(Toleration(f"k{i}", EXISTS) for i in range(17))))
    assert many.value.field == "constraints.tolerations"
    taints = tuple(Taint(f"k{i}") for i in range(33))
    with pytest.raises(InvalidSpec) as node:
        validate_node("n", {"cpu": 1000}, {}, "nodes[0]", taints)
    assert node.value.field == "nodes[0].taints"
    with pytest.raises(InvalidSpec) as twice:
        validate_node("n", {"cpu": 1000}, {}, "nodes[0]", (Taint("k"), Taint("k", "v")))
    assert twice.value.field == "nodes[0].taints[1]"
    with pytest.raises(InvalidSpec) as effect:
        validate_node("n", {"cpu": 1000}, {}, "nodes[0]", (Taint("k", "", ""),))
    assert effect.value.field == "nodes[0].taints[0].effect"


def test_cluster_affinity_is_a_constraint_with_its_own_verdict() -> None:
    """A job naming clusters is CLUSTER_AFFINITY on any other; naming only unregistered ones
    makes it never fit."""
    spec = _spec(clusters=("b", "c"))
    verdict = cluster_constraint_verdict(spec, _cluster("a"))
    assert verdict is not None and verdict.reason == reasons.CLUSTER_AFFINITY
    assert "b, c" in verdict.message
    assert cluster_constraint_verdict(spec, _cluster("b")) is None
    nodes = [_node()]
    assert rejection(spec, [_cluster("a"), _cluster("b")], lambda _: nodes) is None
    gone = rejection(_spec(clusters=("zz",)), [_cluster("a")], lambda _: nodes)
    assert gone is not None and gone[0] == reasons.NO_ELIGIBLE_CLUSTER


def test_cluster_selector_matches_registered_labels() -> None:
    """A cluster whose labels include every pair fits; one lacking a pair is CLUSTER_AFFINITY
    naming it; an over-long label is refused naming the field."""
    own = Cluster(
        ClusterSpec(name="own", region="hz", labels={"owner": "交通局", "tier": "gold"}),
        ClusterState.ACTIVE,
        NOW,
        NOW,
    )
    spec = _spec(cluster_selector={"owner": "交通局"})
    assert cluster_constraint_verdict(spec, own) is None
    verdict = cluster_constraint_verdict(spec, _cluster("other"))
    assert verdict is not None and verdict.reason == reasons.CLUSTER_AFFINITY
    assert verdict.message == "cluster labels lack owner=交通局"
    with pytest.raises(InvalidSpec) as err:
        validate_job_spec(_spec(cluster_selector={"owner": "x" * 129}))
    assert err.value.field == "constraints.cluster_selector[owner]"


@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        ({"clusters": ("Bad_Name",)}, "constraints.clusters[0]"),
        ({"clusters": ("a", "a")}, "constraints.clusters[1]"),
        ({"clusters": tuple(f"c{i}" for i in range(65))}, "constraints.clusters"),
        (
            {"preferred_clusters": tuple(f"c{i}" for i in range(9))},
            "constraints.preferred_clusters",
        ),
        ({"clusters": ("a",), "preferred_clusters": ("b",)}, "constraints.preferred_clusters[0]"),
    ],
)
def test_cluster_lists_are_validated_naming_the_field(
    constraints: dict[str, object], field: str
) -> None:
    """Names are cluster-name syntax, without repeats, bounded, and a preferred cluster must be
    allowed by the affinity."""
    with pytest.raises(InvalidSpec) as err:
        validate_job_spec(_spec(**constraints))
    assert err.value.field == field


def test_preference_rank_orders_named_clusters_before_others() -> None:
    """The first preferred cluster ranks 0, the next 1, an unnamed one last; without a
    preference every cluster ranks 0."""
    spec = _spec(preferred_clusters=("b", "a"))
    assert [preference_rank(spec, c) for c in ("b", "a", "z")] == [0, 1, 2]
    assert preference_rank(_spec(), "z") == 0


def test_digest_of_a_spec_without_the_new_fields_is_unchanged() -> None:
    """Specs without tolerations or cluster lists keep the digest they had before them (the
    value main computed), and a cluster list changes it."""
    plain = _spec()
    assert spec_digest(plain) == "8a021fb8c19d21d9c1ba0cbc5bef6ecffd34bb2b9eb12a5efd56b6dfd08468ae"
    assert spec_digest(plain) != spec_digest(_spec(clusters=("a",)))
