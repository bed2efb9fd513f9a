"""JobSpec.topology: validation naming the field, the zone rule, and the submit-time refusal
of a spread or anti-affinity no registered cluster could ever meet."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from scheduler.domain import reasons
from scheduler.domain.eligibility import rejection
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Cluster, ClusterSpec, JobSpec, Node, Topology
from scheduler.domain.states import ClusterState
from scheduler.domain.topology import ZONE_LABEL, node_zone
from scheduler.domain.validation import spec_digest, validate_job_spec

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _spec(replicas: int = 2, cpu: int = 1000, **topology: object) -> JobSpec:
    return JobSpec(
        client_id="x",
        command=("true",),
        resources={"cpu": cpu},
        replicas=replicas,
        topology=Topology(**topology),  # type: ignore[arg-type]
    )


def _cluster(name: str, zone: str = "") -> Cluster:
    return Cluster(ClusterSpec(name=name, region="hz", zone=zone), ClusterState.ACTIVE, NOW, NOW)


def _node(cluster: str, name: str, zone: str = "", cpu: int = 4000) -> Node:
    return Node(cluster, name, {"cpu": cpu}, {ZONE_LABEL: zone} if zone else {})


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        (_spec(spread_zones=33), "topology.spread_zones", "0-32"),
        (_spec(spread_zones=-1), "topology.spread_zones", "0-32"),
        (_spec(replicas=2, spread_zones=3), "topology.spread_zones", "at least 3 replicas"),
        (_spec(spread_group="g" * 64, spread_zones=2), "topology.spread_group", "at most 63"),
        (_spec(spread_group="a\nb", anti_affinity=True), "topology.spread_group", "control"),
        (_spec(spread_group=" web", anti_affinity=True), "topology.spread_group", "spaces"),
        (_spec(spread_group="web"), "topology.spread_group", "neither spread_zones"),
        (_spec(spread_group="web", spread_zones=1), "topology.spread_group", "neither"),
    ],
)
def test_bad_topologies_are_refused_naming_the_field(spec: JobSpec, field: str, words: str) -> None:
    """Out-of-range zones, a gang spread over more zones than replicas, an overlong, control-
    character or padded group name, and a group that asks nothing are refused on the field."""
    with pytest.raises(InvalidSpec) as refused:
        validate_job_spec(spec)
    assert refused.value.field == field and words in str(refused.value)


def test_good_topologies_pass_and_an_unset_one_keeps_old_digests() -> None:
    """A group may spread over more zones than one job's replicas; an unset topology leaves the
    spec digest as it was before topology existed (resubmits stay duplicates)."""
    validate_job_spec(_spec(replicas=1, spread_zones=3, spread_group="web"))
    validate_job_spec(_spec(replicas=3, spread_zones=3, anti_affinity=True))
    plain = _spec()
    assert spec_digest(plain) == spec_digest(replace(plain, topology=Topology()))
    assert spec_digest(plain) != spec_digest(_spec(anti_affinity=True))


def test_a_nodes_zone_label_wins_over_its_clusters_zone() -> None:
    """topology.kubernetes.io/zone on the node, else the cluster's registered zone, else none."""
    assert node_zone(_node("k", "n", "hz-b"), "hz-a") == "hz-b"
    assert node_zone(_node("k", "n"), "hz-a") == "hz-a"
    assert node_zone(_node("k", "n"), "") == ""


def test_a_gang_spread_needs_one_cluster_spanning_its_zones() -> None:
    """Two single-zone clusters cannot hold a gang across 2 zones (a gang stays in one cluster):
    REJECTED with SPREAD naming the zones; a cluster whose nodes carry 2 zones can."""
    clusters = [_cluster("a", "hz-a"), _cluster("b", "hz-b")]
    nodes = {"a": [_node("a", "a0"), _node("a", "a1")], "b": [_node("b", "b0")]}
    refused = rejection(_spec(spread_zones=2), clusters, lambda c: nodes[c])
    assert refused is not None and refused[0] == reasons.SPREAD
    assert "across 2 zones" in refused[1] and "hz-a" in refused[1]
    assert {v.reason for v in refused[2]} == {reasons.SPREAD}
    nodes["b"] = [_node("b", "b0", "hz-b"), _node("b", "b1", "hz-c")]
    assert rejection(_spec(spread_zones=2), clusters, lambda c: nodes[c]) is None


def test_a_groups_spread_counts_the_zones_of_the_whole_pool() -> None:
    """A spread group needs its zones among every eligible cluster: 2 zones in the pool take a
    group of 2 zones and refuse one of 3; nodes too small or without a zone do not count."""
    clusters = [_cluster("a", "hz-a"), _cluster("b", "hz-b"), _cluster("c")]
    nodes = {
        "a": [_node("a", "a0")],
        "b": [_node("b", "b0")],
        "c": [_node("c", "c0"), _node("c", "small", "hz-d", cpu=500)],
    }
    group = {"replicas": 1, "spread_group": "web"}
    assert rejection(_spec(spread_zones=2, **group), clusters, lambda c: nodes[c]) is None
    refused = rejection(_spec(spread_zones=3, **group), clusters, lambda c: nodes[c])
    assert refused is not None and refused[0] == reasons.SPREAD
    assert refused[1].startswith("needs 3 zones for spread group 'web', only 2 zones (hz-a, hz-b)")


def test_anti_affinity_needs_as_many_eligible_nodes_in_one_cluster_as_replicas() -> None:
    """Three replicas on distinct nodes are refused where no cluster has three nodes that each
    hold one (ANTI_AFFINITY), and accepted once one has; a cluster with no nodes reported yet
    is given the benefit of the doubt."""
    clusters = [_cluster("a")]
    nodes = {"a": [_node("a", "a0"), _node("a", "a1")], "new": []}
    refused = rejection(_spec(replicas=3, anti_affinity=True), clusters, lambda c: nodes[c])
    assert refused is not None and refused[0] == reasons.ANTI_AFFINITY
    assert "2 eligible node(s) for 3 replicas" in refused[1]
    nodes["a"].append(_node("a", "a2"))
    assert rejection(_spec(replicas=3, anti_affinity=True), clusters, lambda c: nodes[c]) is None
    nodes["a"].pop()
    unknown = [*clusters, _cluster("new")]
    assert rejection(_spec(replicas=3, anti_affinity=True), unknown, lambda c: nodes[c]) is None
