"""Governance of the pool: the department tree, quota triples and priority classes.

Department names are paths: a child's name is its parent's name, "/", and its own segment
(`交通局/信号处` under `交通局`), so a department's subtree is every name equal to it or
starting with it and "/", and a cycle cannot be written down. Depth is at most MAX_DEPTH.

A quota is Kueue's triple per department, resource and cluster group: `nominal` is
guaranteed; `borrowing_limit` bounds what it may use above nominal of others' idle share
(None: unlimited); `lending_limit` bounds how much of its idle nominal others may use (None:
all of it). A department without a row for a resource in a group has nominal 0 there. A
cluster group is a label selector over clusters (the empty selector is the whole pool); a
parent's nominal bounds the sum of its children's nominal for the same resource and group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.domain.errors import InvalidSpec, key_path, quote
from scheduler.domain.resources import fmt, max_quantity, validate_name

MAX_DEPTH = 4
MAX_NAME_LEN = 64
MAX_SEGMENT_LEN = 32
MAX_SELECTOR_ENTRIES = 8
MAX_SELECTOR_TEXT = 63
MAX_SELECTOR_JSON = 512
MAX_GROUPS = 16
MAX_QUOTA_RESOURCES = 32
MAX_PRIORITY_CLASSES = 64
MAX_CLASS_VALUE = 1000
MAX_DESCRIPTION = 256

_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
_CLASS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

Selector = Mapping[str, str]


@dataclass(frozen=True)
class ResourceQuota:
    resource: str
    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None
    # When the store last saw the triple change (set by SetQuota; None for one not stored).
    # Not part of the quota's identity: two reads of the same triple are equal.
    changed_at: datetime | None = field(default=None, compare=False)

    @property
    def limit(self) -> int | None:
        """The most the department may use: nominal + borrowing_limit (None: unlimited)."""
        return None if self.borrowing_limit is None else self.nominal + self.borrowing_limit


@dataclass(frozen=True)
class QuotaGroup:
    """A department's quotas in one cluster group."""

    selector: Mapping[str, str]
    resources: tuple[ResourceQuota, ...]

    @property
    def key(self) -> str:
        return selector_key(self.selector)


@dataclass(frozen=True)
class PriorityClass:
    name: str
    value: int
    preemptible: bool
    may_preempt: bool
    description: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class QuotaUsage:
    """One resource of one group: its quota and what the department's subtree uses there."""

    resource: str
    quota: ResourceQuota
    used: int
    lent: int = 0  # of its idle nominal, what others' borrowing may be using now
    # Over its limit only: when the scheduler starts preempting the excess (reclaim_from).
    reclaim_at: datetime | None = None

    @property
    def borrowed(self) -> int:
        return max(0, self.used - self.quota.nominal)

    @property
    def over_limit(self) -> int:
        return over_limit(self.quota, self.used)


def over_limit(quota: ResourceQuota, used: int) -> int:
    """How far `used` is above nominal + borrowing_limit (0 within it, or when unlimited)."""
    limit = quota.limit
    return 0 if limit is None else max(0, used - limit)


def reclaim_from(quota: ResourceQuota, used: int, delay_s: float) -> datetime | None:
    """When the excess of a quota used above its limit may be preempted: `delay_s` after the
    quota last changed (use above a limit only arises from lowering it: the cycle never
    places past a limit). None when within the limit or the quota was never stored."""
    if not over_limit(quota, used) or quota.changed_at is None:
        return None
    return quota.changed_at + timedelta(seconds=delay_s)


@dataclass(frozen=True)
class GroupUsage:
    selector: Mapping[str, str]
    resources: tuple[QuotaUsage, ...]


@dataclass(frozen=True)
class DepartmentStatus:
    """GetDepartment's answer: the department, its quotas with usage, and its pool-wide usage."""

    name: str
    display_name: str
    parent: str
    created_at: datetime
    priority_classes: tuple[str, ...]
    groups: tuple[GroupUsage, ...]
    usage: Mapping[str, int] = field(default_factory=dict)
    fair_share_weight: int = 1
    decayed_usage: float = 0.0  # the subtree's, as of the last cycle


# -- the department tree ---------------------------------------------------------------------


def parent_of(name: str) -> str:
    """The parent's name by the path convention ("" for a top-level department)."""
    return name.rpartition("/")[0]


def in_subtree(name: str, root: str) -> bool:
    return name == root or name.startswith(root + "/")


def validate_department_path(name: str, parent: str) -> str:
    """Checks `name` against the path convention and `parent`; returns the parent's name.

    `parent` may be empty for a path name: it is then read off the name. Whether the parent
    exists is the caller's check (it needs the store).
    """
    if not name:
        raise InvalidSpec("is required", field="name")
    if len(name) > MAX_NAME_LEN:
        raise InvalidSpec(f"is {len(name)} characters, at most {MAX_NAME_LEN}", field="name")
    if not _PRINTABLE.match(name):
        raise InvalidSpec("must not contain control characters", field="name")
    segments = name.split("/")
    if len(segments) > MAX_DEPTH:
        raise InvalidSpec(
            f"{quote(name)} is {len(segments)} levels deep, at most {MAX_DEPTH}", field="name"
        )
    for segment in segments:
        if not segment or segment != segment.strip():
            raise InvalidSpec(
                f"{quote(name)}: each '/'-separated part must be non-empty without surrounding "
                "spaces",
                field="name",
            )
    implied = parent_of(name)
    if parent and parent != implied:
        raise InvalidSpec(
            f"a department under {quote(parent)} is named {quote(parent + '/')}+NAME, "
            f"got {quote(name)}",
            field="name",
        )
    return implied


# -- cluster groups --------------------------------------------------------------------------


def validate_selector(selector: Selector, field: str) -> dict[str, str]:
    if len(selector) > MAX_SELECTOR_ENTRIES:
        raise InvalidSpec(f"at most {MAX_SELECTOR_ENTRIES} labels", field=field)
    for k, v in selector.items():
        path = key_path(field, k)
        if not k or len(k) > MAX_SELECTOR_TEXT or len(v) > MAX_SELECTOR_TEXT:
            raise InvalidSpec(
                f"keys 1-{MAX_SELECTOR_TEXT} and values 0-{MAX_SELECTOR_TEXT} characters",
                field=path,
            )
        if not _PRINTABLE.match(k) or not _PRINTABLE.match(v):
            raise InvalidSpec("must not contain control characters", field=path)
    return dict(selector)


def selector_key(selector: Selector) -> str:
    """The canonical JSON of a selector: the group's key in the store."""
    return json.dumps(dict(sorted(selector.items())), ensure_ascii=False, separators=(",", ":"))


def selector_from_key(key: str) -> dict[str, str]:
    return dict(json.loads(key))


def cluster_group_labels(
    labels: Mapping[str, str], xinchuang: bool, region: str, security_level: int
) -> dict[str, str]:
    """The labels a cluster group selects on: the cluster's labels plus `xinchuang`
    ("true"/"false"), `region` and `security_level`, which the registered spec decides (a
    label of the same name cannot contradict them)."""
    out = dict(labels)
    out.update(
        xinchuang="true" if xinchuang else "false",
        region=region,
        security_level=str(security_level),
    )
    return out


def selects(selector: Selector, labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# -- quotas ----------------------------------------------------------------------------------


def _bounded(value: int, resource: str, field: str) -> int:
    if value < 0:
        raise InvalidSpec(f"must be >= 0, got {value}", field=field)
    if value > max_quantity(resource):
        raise InvalidSpec(
            f"{value} is absurdly large (limit {max_quantity(resource)}); units are "
            "millicores for cpu and MiB for memory",
            field=field,
        )
    return value


def validate_quotas(quotas: Sequence[ResourceQuota], field: str = "quotas") -> list[ResourceQuota]:
    if len(quotas) > MAX_QUOTA_RESOURCES:
        raise InvalidSpec(f"at most {MAX_QUOTA_RESOURCES} resources", field=field)
    seen: set[str] = set()
    for i, q in enumerate(quotas):
        item = f"{field}[{i}]"
        validate_name(q.resource, f"{item}.resource")
        if q.resource in seen:
            raise InvalidSpec(f"{quote(q.resource)} is given twice", field=f"{item}.resource")
        seen.add(q.resource)
        _bounded(q.nominal, q.resource, f"{item}.nominal")
        if q.borrowing_limit is not None:
            _bounded(q.borrowing_limit, q.resource, f"{item}.borrowing_limit")
        if q.lending_limit is not None:
            _bounded(q.lending_limit, q.resource, f"{item}.lending_limit")
            if q.lending_limit > q.nominal:
                # As Kueue: only idle nominal can be lent.
                raise InvalidSpec(
                    f"{q.lending_limit} exceeds the nominal {q.nominal}: only nominal quota "
                    "can be lent",
                    field=f"{item}.lending_limit",
                )
    return sorted(quotas, key=lambda q: q.resource)


def check_hierarchy(
    department: str,
    new: Sequence[ResourceQuota],
    parent: str,
    parent_nominal: Mapping[str, int] | None,
    siblings: Mapping[str, Mapping[str, int]],
    children: Mapping[str, Mapping[str, int]],
    field: str = "quotas",
) -> None:
    """Refuses a quota of `department` in one group that breaks the tree's bounds.

    `parent_nominal`: the parent's nominal per resource in the group (None for a top-level
    department, which nothing bounds); `siblings`: the other children of the parent, name ->
    nominal per resource; `children`: the department's own children likewise. A resource
    without a row has nominal 0.
    """
    index = {q.resource: i for i, q in enumerate(new)}
    mine = {q.resource: q.nominal for q in new}

    def where(resource: str) -> str:
        return f"{field}[{index[resource]}].nominal" if resource in index else field

    if parent_nominal is not None:
        for resource in sorted(set(mine) | {r for s in siblings.values() for r in s}):
            total = mine.get(resource, 0) + sum(s.get(resource, 0) for s in siblings.values())
            bound = parent_nominal.get(resource, 0)
            if mine.get(resource, 0) and total > bound:
                raise InvalidSpec(
                    f"children of {quote(parent)} would hold {fmt({resource: total})} "
                    f"nominal, above the parent's {fmt({resource: bound}) or resource + '=0'}",
                    field=where(resource),
                )
    for resource in sorted({r for c in children.values() for r in c}):
        held = sum(c.get(resource, 0) for c in children.values())
        if held > mine.get(resource, 0):
            names = ", ".join(quote(n, 32) for n, c in sorted(children.items()) if c.get(resource))
            raise InvalidSpec(
                f"children ({names}) hold {fmt({resource: held})} nominal, above the "
                f"{fmt({resource: mine.get(resource, 0)}) or resource + '=0'} asked for "
                f"{quote(department)}",
                field=where(resource),
            )


def usage_by_group(
    groups: Iterable[QuotaGroup], used: Mapping[str, Mapping[str, int]], reclaim_delay_s: float
) -> tuple[GroupUsage, ...]:
    """Each group's quotas with the subtree's use there, and when a quota used above its
    limit is reclaimed; `used` is group key -> resource -> quantity in use on the clusters
    the group selects."""
    out = []
    for g in groups:
        in_group = used.get(g.key, {})
        resources = []
        for q in g.resources:
            n = in_group.get(q.resource, 0)
            resources.append(QuotaUsage(q.resource, q, n, 0, reclaim_from(q, n, reclaim_delay_s)))
        out.append(GroupUsage(g.selector, tuple(resources)))
    return tuple(out)


# -- priority classes ------------------------------------------------------------------------


def validate_priority_class(pc: PriorityClass) -> PriorityClass:
    validate_class_name(pc.name, "name")
    if not 0 <= pc.value <= MAX_CLASS_VALUE:
        raise InvalidSpec(f"must be 0-{MAX_CLASS_VALUE}, got {pc.value}", field="value")
    if len(pc.description) > MAX_DESCRIPTION or not _PRINTABLE.match(pc.description):
        raise InvalidSpec(
            f"at most {MAX_DESCRIPTION} characters without control characters",
            field="description",
        )
    return pc


def validate_class_names(names: Sequence[str], field: str) -> list[str]:
    if len(names) > MAX_PRIORITY_CLASSES:
        raise InvalidSpec(f"at most {MAX_PRIORITY_CLASSES} classes", field=field)
    for i, name in enumerate(names):
        validate_class_name(name, f"{field}[{i}]")
    return sorted(set(names))


def validate_class_name(name: str, field: str) -> str:
    if not _CLASS_NAME.match(name):
        raise InvalidSpec(
            f"{quote(name)} is not a priority class name (1-63 characters of a-z, 0-9, '-')",
            field=field,
        )
    return name
