"""Node taints and job tolerations, with Kubernetes' semantics.

A node's NoSchedule or NoExecute taint keeps every job off it that does not tolerate the taint
(scheduler.domain.eligibility.node_matches, so the cycle, the submit-time never-fits check and
ExplainJob agree). PreferNoSchedule taints are stored and shown but do not steer placement:
Kubernetes treats them as a scoring hint, and a hint among nodes the solver already prices
would add node types to every cycle for little (README, job API).

Toleration matching is Kubernetes' `ToleratesTaint`: an effect, when given, must equal the
taint's; a key, when given, must equal the taint's (an empty key with Exists tolerates every
taint); Exists ignores the value, Equal compares it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scheduler.domain.errors import InvalidSpec, quote

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
EFFECTS = (NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE)
# Effects that keep an untolerating job off the node.
BLOCKING = frozenset({NO_SCHEDULE, NO_EXECUTE})
EQUAL = "Equal"
EXISTS = "Exists"

MAX_TOLERATIONS = 16
MAX_NODE_TAINTS = 32
# Kubernetes' bounds: a qualified name (DNS prefix up to 253, name up to 63) and a label value.
MAX_KEY_LEN = 317
MAX_VALUE_LEN = 63
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True, order=True)
class Taint:
    key: str
    value: str = ""
    effect: str = NO_SCHEDULE

    def __str__(self) -> str:
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )


@dataclass(frozen=True, order=True)
class Toleration:
    """Tolerates the taints it matches; key "" with Exists matches every key, effect "" every
    effect."""

    key: str = ""
    operator: str = EQUAL
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        return self.operator == EXISTS or self.value == taint.value

    def __str__(self) -> str:
        """The CLI's form: key=value[:Effect] (Equal), key[:Effect] (Exists), * for every key."""
        head = f"{self.key}={self.value}" if self.operator == EQUAL else self.key or "*"
        return f"{head}:{self.effect}" if self.effect else head


def untolerated(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> list[Taint]:
    """The node's NoSchedule/NoExecute taints none of `tolerations` matches."""
    tolerations = tuple(tolerations)
    return [
        t for t in taints if t.effect in BLOCKING and not any(x.tolerates(t) for x in tolerations)
    ]


def _key(key: str, field: str) -> None:
    name = key.rpartition("/")[2]
    prefix = key.rpartition("/")[0]
    if len(key) > MAX_KEY_LEN or len(name) > 63 or len(prefix) > 253 or not _KEY.match(key):
        raise InvalidSpec(
            f"{quote(key)} is not a taint key (a Kubernetes qualified name, e.g. "
            "example.com/gpu or dedicated)",
            field=field,
        )


def _value(value: str, field: str) -> None:
    if len(value) > MAX_VALUE_LEN or not _VALUE.match(value):
        raise InvalidSpec(
            f"{quote(value)} is not a taint value (at most {MAX_VALUE_LEN} of A-Z a-z 0-9 - _ ., "
            "alphanumeric at both ends)",
            field=field,
        )


def _effect(effect: str, field: str, *, required: bool) -> None:
    if (required or effect) and effect not in EFFECTS:
        raise InvalidSpec(f"must be one of {', '.join(EFFECTS)}, got {quote(effect)}", field=field)


def validate_taints(taints: Sequence[Taint], field: str) -> tuple[Taint, ...]:
    """A node's taints as an agent reports them: bounded, each a valid Kubernetes taint, no
    two with the same key and effect (Kubernetes refuses those too)."""
    if len(taints) > MAX_NODE_TAINTS:
        raise InvalidSpec(f"at most {MAX_NODE_TAINTS} taints, got {len(taints)}", field=field)
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(taints):
        where = f"{field}[{i}]"
        _key(t.key, f"{where}.key")
        _value(t.value, f"{where}.value")
        _effect(t.effect, f"{where}.effect", required=True)
        if (t.key, t.effect) in seen:
            raise InvalidSpec(f"repeats key {quote(t.key)} with effect {t.effect}", field=where)
        seen.add((t.key, t.effect))
    return tuple(sorted(taints))


def validate_tolerations(tolerations: Sequence[Toleration], field: str) -> None:
    if len(tolerations) > MAX_TOLERATIONS:
        raise InvalidSpec(
            f"at most {MAX_TOLERATIONS} tolerations, got {len(tolerations)}", field=field
        )
    for i, t in enumerate(tolerations):
        where = f"{field}[{i}]"
        if t.operator not in (EQUAL, EXISTS):
            raise InvalidSpec(
                f"must be Equal or Exists, got {quote(t.operator)}", field=f"{where}.operator"
            )
        if t.key:
            _key(t.key, f"{where}.key")
        elif t.operator != EXISTS:
            raise InvalidSpec(
                "is required unless operator is Exists (which then tolerates every taint)",
                field=f"{where}.key",
            )
        if t.operator == EXISTS and t.value:
            raise InvalidSpec("must be empty with operator Exists", field=f"{where}.value")
        _value(t.value, f"{where}.value")
        _effect(t.effect, f"{where}.effect", required=False)


def few(taints: Sequence[Taint], limit: int = 3) -> str:
    shown = ", ".join(str(t) for t in taints[:limit])
    return f"{shown} and {len(taints) - limit} more" if len(taints) > limit else shown
