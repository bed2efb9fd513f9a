"""Node taints as an agent reports them, and a job's tolerations as its lease carries them.

The scheduler keeps jobs off nodes with a NoSchedule or NoExecute taint they do not tolerate
(scheduler.domain.taints; agents import only protos, so the few rules an agent needs are here).
Where taints come from:

- local agent: `--taint KEY[=VALUE]:EFFECT` (repeatable) on every node it offers, and a node
  file's `taints: [dedicated=gpu:NoSchedule]` per node entry. They only steer the scheduler:
  a local replica runs the same whatever the node's taints.
- Kubernetes agent: the nodes' own taints, less those its `--tolerate` covers (agents.kube.nodes).
- Slurm agent: none of its own (Slurm has no taints; drained and down nodes are simply not
  offered), `--taint` still marks every node of the partition.

A node with more taints than the scheduler takes (MAX_NODE_TAINTS) is offered with no room
and `suanchou.io/unschedulable: too-many-taints`: dropping one could let a job onto a node it
does not tolerate, and a Sync with too many is refused whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # agents.capacity imports NodeTaint from here
    from agents.capacity import CapacitySource, NodeInfo

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
BLOCKING = ("NoSchedule", "NoExecute")
MAX_NODE_TAINTS = 32
UNSCHEDULABLE_LABEL = "suanchou.io/unschedulable"
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


@dataclass(frozen=True, order=True)
class NodeTaint:
    key: str
    value: str
    effect: str

    @classmethod
    def parse(cls, text: str, where: str) -> NodeTaint:
        """`KEY[=VALUE]:EFFECT` (kubectl taint's form); ValueError naming `where`."""
        spec, colon, effect = text.rpartition(":")
        key, _, value = spec.partition("=")
        if not colon or effect not in EFFECTS:
            raise ValueError(
                f"{where}: {text[:40]!r}: expected KEY[=VALUE]:EFFECT, EFFECT one of "
                f"{', '.join(EFFECTS)}"
            )
        if not valid(key, value):
            raise ValueError(f"{where}: {text[:40]!r} is not a valid Kubernetes taint")
        return cls(key, value, effect)

    def __str__(self) -> str:
        head = f"{self.key}={self.value}" if self.value else self.key
        return f"{head}:{self.effect}"


def valid(key: str, value: str) -> bool:
    """Whether the scheduler (and Kubernetes) take this key and value."""
    prefix, _, name = key.rpartition("/")
    return bool(
        _KEY.match(key)
        and len(prefix) <= 253
        and len(name) <= 63
        and len(value) <= 63
        and _VALUE.match(value)
    )


@dataclass(frozen=True)
class LeaseToleration:
    """One of the job's tolerations (RunLease.tolerations)."""

    key: str
    operator: str  # "Equal" or "Exists"
    value: str
    effect: str  # "" = every effect

    def manifest(self) -> dict[str, str]:
        """As a pod's `spec.tolerations` entry."""
        out = {"operator": self.operator or "Equal"}
        if self.key:
            out["key"] = self.key
        if self.operator != "Exists":
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        return out


def merge(node: NodeInfo, extra: Sequence[NodeTaint]) -> NodeInfo:
    """`node` with `extra` taints added (one per key and effect: the node's own win), bounded
    as the module docstring says."""
    have = {(t.key, t.effect) for t in node.taints}
    taints = tuple(sorted({*node.taints, *(t for t in extra if (t.key, t.effect) not in have)}))
    if len(taints) <= MAX_NODE_TAINTS:
        return replace(node, taints=taints)
    labels = {**node.labels, UNSCHEDULABLE_LABEL: "too-many-taints"}
    empty = {r: 0 for r in node.capacity}
    return replace(node, capacity=empty, labels=labels, taints=taints[:MAX_NODE_TAINTS])


class TaintedCapacity:
    """A capacity source whose every node also carries `taints` (`--taint`)."""

    def __init__(self, source: CapacitySource, taints: Sequence[NodeTaint]) -> None:
        self._source = source
        self._taints = tuple(taints)

    def nodes(self) -> list[NodeInfo]:
        return [merge(n, self._taints) for n in self._source.nodes()]
