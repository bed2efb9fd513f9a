"""Cluster affinity and an ordered cluster preference of a job.

`Constraints.clusters` is a hard constraint beside region, 等保 level and 信创: the job runs
only on the clusters it names (and, with `cluster_selector`, on clusters whose registered
labels, ClusterSpec.labels, include all of its pairs). A name that no registered cluster has
simply matches nothing; when it leaves no cluster at all the job is rejected at submit as never
fitting (eligibility).

`Constraints.preferred_clusters` is soft, an objective term in the money tier as the 信创
preference (scheduler.service.node_preference): the first name costs least, each later one
more, a cluster it does not name most. Work outweighs every cost, so a preferring job overflows
to other clusters when the preferred have no room, and its placed message says the preference
was overruled and why (scheduler.service.explain).

Home clusters: a cluster registered with the label HOME_LABEL (`suanchou.io/department`)
names the department that contributed it to the pool. A job whose department, or one of its
ancestors, contributed clusters prefers them, one step (below a job's own preferences): work
within a department's guarantee then runs on the capacity that backs it, and the others'
clusters hold mostly borrowed work, which their owners can reclaim. Without it a department
not borrowing (so not reclaimable) may sit on a lender's cluster while its own holds
borrowers, and the lender's gang waits for room no rule frees (benchmarks/README.md, city
simulator). A job's own `preferred_clusters` replace the home preference. Spare capabilities
(scheduler.service.node_preference) outrank home: a department's work that needs neither its
cluster's 等保 level nor its 信创 hardware goes first where those are not spent on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from scheduler.domain import reasons
from scheduler.domain.errors import InvalidSpec, quote
from scheduler.domain.models import Cluster, ClusterVerdict, Constraints, Job, JobSpec
from scheduler.domain.quotas import parent_of, validate_department_path

# A registered cluster's name (validation.validate_cluster_spec uses it too).
CLUSTER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_AFFINITY_CLUSTERS = 64
MAX_PREFERRED_CLUSTERS = 8
# The cluster label naming the department that contributed a cluster (its home department).
HOME_LABEL = "suanchou.io/department"


def _names(names: Sequence[str], field: str, limit: int) -> None:
    if len(names) > limit:
        raise InvalidSpec(f"at most {limit} clusters, got {len(names)}", field=field)
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not CLUSTER_NAME.match(name):
            raise InvalidSpec(
                f"{quote(name)} is not a cluster name (1-63 characters of a-z, 0-9 and '-', "
                "starting with a letter)",
                field=f"{field}[{i}]",
            )
        if name in seen:
            raise InvalidSpec(f"names {quote(name)} twice", field=f"{field}[{i}]")
        seen.add(name)


def validate_cluster_choice(c: Constraints, field: str) -> None:
    """Names are checked for syntax only: registering a cluster later may make them real."""
    _names(c.clusters, f"{field}.clusters", MAX_AFFINITY_CLUSTERS)
    _names(c.preferred_clusters, f"{field}.preferred_clusters", MAX_PREFERRED_CLUSTERS)
    if c.clusters:
        allowed = set(c.clusters)
        for i, name in enumerate(c.preferred_clusters):
            if name not in allowed:
                raise InvalidSpec(
                    f"{quote(name)} is not among the job's clusters, so it could never be used",
                    field=f"{field}.preferred_clusters[{i}]",
                )


def affinity_verdict(spec: JobSpec, cluster: Cluster) -> ClusterVerdict | None:
    """CLUSTER_AFFINITY when the job names clusters and not this one, or selects clusters by
    labels this one lacks; None otherwise."""
    names = spec.constraints.clusters
    if names and cluster.name not in names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return ClusterVerdict(
            cluster.name,
            False,
            reasons.CLUSTER_AFFINITY,
            f"not one of the job's clusters ({shown})",
        )
    selector = spec.constraints.cluster_selector
    missing = sorted(k for k, v in selector.items() if cluster.spec.labels.get(k) != v)
    if missing:
        wanted = ",".join(f"{k}={selector[k]}" for k in missing[:3])
        return ClusterVerdict(
            cluster.name, False, reasons.CLUSTER_AFFINITY, f"cluster labels lack {wanted}"
        )
    return None


def preference_rank(spec: JobSpec, cluster: str) -> int:
    """0 for the first preferred cluster (or any cluster when the job prefers none), k for the
    k-th after it, len(preferred) for a cluster it does not name."""
    preferred = spec.constraints.preferred_clusters
    return preferred.index(cluster) if cluster in preferred else len(preferred)


def validate_home_label(labels: Mapping[str, str], field: str) -> None:
    """A HOME_LABEL value must be a department path (whether it exists is not checked: the
    department may be created after the cluster)."""
    name = labels.get(HOME_LABEL)
    if name is None:
        return
    try:
        validate_department_path(name, "")
    except InvalidSpec as e:
        raise InvalidSpec(e.message, field=f"{field}[{HOME_LABEL}]") from None


def home_clusters(clusters: Iterable[Cluster]) -> dict[str, tuple[str, ...]]:
    """department -> the clusters labelled as contributed by it (HOME_LABEL), sorted."""
    out: dict[str, list[str]] = {}
    for c in clusters:
        owner = c.spec.labels.get(HOME_LABEL)
        if owner:
            out.setdefault(owner, []).append(c.name)
    return {d: tuple(sorted(names)) for d, names in out.items()}


def job_home(department: str, homes: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The home clusters of a department's jobs: its own, then its ancestors' (a division is at
    home on what its bureau contributed)."""
    out: list[str] = []
    name = department
    while name:
        out += [c for c in homes.get(name, ()) if c not in out]
        name = parent_of(name)
    return tuple(out)


def choice_rank(job: Job, home: tuple[str, ...], cluster: str) -> int:
    """The job's preference steps against `cluster`: preference_rank for a job with its own
    list; else 0 on a home cluster (`home`: job_home of its department) and 1 elsewhere."""
    if job.spec.constraints.preferred_clusters:
        return preference_rank(job.spec, cluster)
    return 1 if home and cluster not in home else 0
