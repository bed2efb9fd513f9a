"""JobSpec.topology in the cycle: the solver's services for the problem, and why it holds a job.

The solver (scheduler/placement/model/problem.py, Services) keeps an anti-affinity service's
replicas on distinct nodes and makes a spread service with any placed member cover spread_min
domains of a topology key. The builder gives it one key, the zone (scheduler.domain.topology), and:

- a job alone (no spread_group): one service of that job, its spread and anti-affinity as
  asked; nodes without a zone are not eligible when it spreads. The solver keeps a gang in
  one cluster, so its zones are that cluster's.
- a spread group (the department's queued jobs naming it): one service of its queued jobs.
  Its running replicas are fixed, and a service holding them would force this cycle's answer
  to complete their spread or be infeasible; so they are not members. Instead, while they
  cover fewer zones than the group needs, its queued jobs may use only zones they do not
  cover (and nodes with a zone), and must cover the missing number between them; an
  anti-affine group's queued jobs avoid the nodes its running replicas hold. Leaving every
  queued member out always satisfies the service, so the problem stays feasible.

Spread and anti-affinity are checked when a job is placed, never against running work later
(as Kubernetes' IgnoredDuringExecution): a running job does not move when zones change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scheduler.domain import reasons
from scheduler.domain.eligibility import cluster_constraint_verdict, node_matches
from scheduler.domain.models import Job, Node
from scheduler.domain.resources import add, fits
from scheduler.domain.topology import constrained, gang_spreads, node_zone, zone_list
from scheduler.placement import Service
from scheduler.service.snapshot import Snapshot

ZONE_KEY = "zone"
# Solver answers spread or anti-affinity can be the real cause of (the solver's own reasons
# do not name zones); a quota's word, or a cluster's state, stands.
MAY_HOLD = frozenset(
    {
        reasons.INSUFFICIENT_CAPACITY,
        reasons.OUTRANKED,
        reasons.GANG_INCOMPLETE,
        reasons.NO_ELIGIBLE_CLUSTER,
    }
)
GroupKey = tuple[str, str]  # (department, spread_group)


@dataclass(frozen=True)
class TopologyPart:
    """What the builder adds to the Problem; `job_nodes` replaces its eligibility indices."""

    job_nodes: tuple[int, ...]
    services: tuple[Service, ...] = ()
    node_domains: tuple[tuple[int, ...], ...] = ()
    domain_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Group:
    """A spread group as the cycle sees it: what its running replicas hold and what it asks."""

    held: frozenset[tuple[str, str]]  # (cluster, node) of each running replica
    covered: frozenset[str]  # their zones
    zones: int  # spread_zones: the largest any member asks
    anti: bool  # any member asks anti-affinity
    queued: int  # replicas of its queued jobs

    @property
    def missing(self) -> int:
        """Zones its queued jobs must add (0: the group's spread is already met)."""
        return max(0, self.zones - len(self.covered)) if self.zones >= 2 else 0


def group_key(job: Job) -> GroupKey | None:
    group = job.spec.topology.spread_group
    return (job.department, group) if group else None


def _groups(snap: Snapshot, zone: Mapping[tuple[str, str], str]) -> dict[GroupKey, _Group]:
    """Every spread group with a queued member, from its queued and running members."""
    members: dict[GroupKey, list[Job]] = {}
    for job in snap.queued:
        if (key := group_key(job)) is not None:
            members.setdefault(key, []).append(job)
    queued = {key: sum(j.spec.replicas for j in jobs) for key, jobs in members.items()}
    held: dict[GroupKey, set[tuple[str, str]]] = {key: set() for key in members}
    for job, places in snap.running:
        key = group_key(job)
        if key in members:
            members[key].append(job)
            held[key].update(places)
    out = {}
    for key, jobs in members.items():
        covered = frozenset(z for place in held[key] if (z := zone.get(place, "")))
        out[key] = _Group(
            frozenset(held[key]),
            covered,
            max(j.spec.topology.spread_zones for j in jobs),
            any(j.spec.topology.anti_affinity for j in jobs),
            queued[key],
        )
    return out


def _zones(snap: Snapshot) -> dict[tuple[str, str], str]:
    by_name = {c.name: c for c in snap.clusters}
    return {
        (n.cluster, n.name): node_zone(n, by_name[n.cluster].spec.zone)
        for n in snap.nodes
        if n.cluster in by_name
    }


def topology_part(
    snap: Snapshot,
    jobs: Sequence[Job],
    nodes: Sequence[Node],
    index: dict[tuple[int, ...], int],
    job_nodes: tuple[int, ...],
) -> TopologyPart:
    """Services and narrowed eligibility for the queued `jobs` (index j = job j) with a
    topology; `index` (node set -> its index) gains the narrowed sets."""
    if not any(constrained(job.spec) for job in jobs):
        return TopologyPart(job_nodes)
    zone = _zones(snap)
    node_zone_of = [zone.get((n.cluster, n.name), "") for n in nodes]
    groups = _groups(snap, zone)
    sets = list(index)
    narrowed = list(job_nodes)
    services: list[Service] = []
    grouped: dict[GroupKey, list[int]] = {}
    keys = [(n.cluster, n.name) for n in nodes]
    # (set index, group or None) -> narrowed set index: look-alike jobs are narrowed once.
    done: dict[tuple[int, GroupKey | None], int] = {}
    for j, job in enumerate(jobs):
        if not constrained(job.spec):
            continue
        key = group_key(job)
        if key is None:
            t = job.spec.topology
            services.append(
                Service(
                    (j,),
                    anti_affinity=t.anti_affinity and job.spec.replicas > 1,
                    spread_key=0 if t.spreads else -1,
                    spread_min=t.spread_zones if t.spreads else 0,
                )
            )
            if not t.spreads:
                continue
        else:
            grouped.setdefault(key, []).append(j)
        base = job_nodes[j]
        if (base, key) not in done:
            group = groups[key] if key is not None else None

            def keeps(n: int, group: _Group | None = group) -> bool:
                zone = node_zone_of[n]
                if group is None:  # a job alone that spreads: any node with a zone
                    return bool(zone)
                if group.anti and keys[n] in group.held:
                    return False
                return not group.missing or (bool(zone) and zone not in group.covered)

            eligible = tuple(n for n in sets[base] if keeps(n))
            done[(base, key)] = index.setdefault(eligible, len(index))
            sets = list(index)
        narrowed[j] = done[(base, key)]
    for key, members in grouped.items():
        group = groups[key]
        spread = group.missing >= 2  # one new zone: any placement outside `covered` gives it
        if group.anti or spread:
            services.append(
                Service(
                    tuple(members),
                    anti_affinity=group.anti,
                    spread_key=0 if spread else -1,
                    spread_min=group.missing if spread else 0,
                )
            )
    if not any(s.spread_key >= 0 for s in services):
        return TopologyPart(tuple(narrowed), tuple(services))
    ids: dict[str, int] = {}
    domains = tuple((ids.setdefault(z, len(ids)),) for z in node_zone_of)
    return TopologyPart(tuple(narrowed), tuple(services), domains, (ZONE_KEY,))


# -- why a queued job waits ---------------------------------------------------------------------


class Holds:
    """Why the cycle's unplaced jobs with a topology wait; zones and groups read once."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self._zone: dict[tuple[str, str], str] | None = None
        self._groups: dict[GroupKey, _Group] = {}
        # Look-alike jobs (same constraints and demand) have the same nodes with room.
        self._rooms: dict[str, list[tuple[str, str]]] = {}

    def why(self, job: Job, code: str) -> tuple[str, str] | None:
        """(SPREAD or ANTI_AFFINITY, message) when the job's topology is what keeps it out
        now: too few zones (or, anti-affine, distinct nodes) with room for one replica among
        the nodes it may use. None when its topology is not the obvious blocker and the
        solver's answer `code` stands. Room is as at the start of the cycle."""
        if code not in MAY_HOLD or not constrained(job.spec):
            return None
        if self._zone is None:
            self._zone = _zones(self.snap)
            self._groups = _groups(self.snap, self._zone)
        zone = self._zone
        shape = repr((job.spec.constraints, sorted(job.spec.resources.items())))
        if shape not in self._rooms:
            self._rooms[shape] = _rooms(self.snap, job)
        rooms = self._rooms[shape]
        key = group_key(job)
        if key is not None:
            return _group_hold(job, key, self._groups[key], rooms, zone)
        return _gang_hold(job, rooms, zone)


def _gang_hold(
    job: Job, rooms: list[tuple[str, str]], zone: Mapping[tuple[str, str], str]
) -> tuple[str, str] | None:
    t = job.spec.topology
    by_cluster: dict[str, list[tuple[str, str]]] = {}
    for place in rooms:
        by_cluster.setdefault(place[0], []).append(place)
    if gang_spreads(job.spec):
        best = max(
            by_cluster.items(),
            key=lambda item: len({zone[p] for p in item[1] if zone.get(p)}),
            default=None,
        )
        zones = sorted({zone[p] for p in best[1] if zone.get(p)}) if best else []
        if len(zones) < t.spread_zones:
            where = (
                f"only {zone_list(zones)} of {best[0]} have" if best and zones else "no zone has"
            )
            return reasons.SPREAD, (
                f"needs its {job.spec.replicas} replicas in {t.spread_zones} zones of one "
                f"cluster, {where} room now for a replica"
            )
    if t.anti_affinity and job.spec.replicas > 1:
        most = max(by_cluster.items(), key=lambda item: len(item[1]), default=None)
        count = len(most[1]) if most else 0
        if count < job.spec.replicas:
            where = f"only {count} node(s) of {most[0]} have" if most else "no node has"
            return reasons.ANTI_AFFINITY, (
                f"needs {job.spec.replicas} distinct nodes in one cluster, {where} room now "
                "for a replica"
            )
    return None


def _group_hold(
    job: Job,
    key: GroupKey,
    group: _Group,
    rooms: list[tuple[str, str]],
    zone: Mapping[tuple[str, str], str],
) -> tuple[str, str] | None:
    name = f"spread group {key[1][:64]!r}"
    if group.missing:
        running = f"its running jobs cover {zone_list(sorted(group.covered))}"
        if group.queued < group.missing:
            return reasons.SPREAD, (
                f"{name} needs {group.zones} zones: {running}, and its queued jobs have "
                f"{group.queued} replica(s) for the {group.missing} zone(s) missing; submit "
                "more jobs to the group or lower spread_zones"
            )
        free = sorted({z for p in rooms if (z := zone.get(p)) and z not in group.covered})
        if len(free) < group.missing:
            more = f"only {zone_list(free)} more have" if free else "no other zone has"
            return reasons.SPREAD, (
                f"{name} needs {group.zones} zones: {running}, {more} room now for a replica"
            )
    if group.anti:
        count = sum(1 for p in rooms if p not in group.held)
        if count < job.spec.replicas:
            return reasons.ANTI_AFFINITY, (
                f"{name} is anti-affine: its running jobs hold {len(group.held)} node(s), and "
                f"only {count} other node(s) have room now for its {job.spec.replicas} "
                "replica(s)"
            )
    return None


def _rooms(snap: Snapshot, job: Job) -> list[tuple[str, str]]:
    """(cluster, node) of the nodes the job may use that have room now for one replica."""
    usable = {
        c.name
        for c in snap.clusters
        if snap.schedulable(c.name) and cluster_constraint_verdict(job.spec, c) is None
    }
    out = []
    for n in snap.nodes:
        place = (n.cluster, n.name)
        if n.cluster not in usable or not node_matches(job.spec, n):
            continue
        held = add(snap.used.get(place, {}), snap.stopping.get(place, {}))
        if fits(add(held, job.spec.resources), n.capacity):
            out.append(place)
    return out
