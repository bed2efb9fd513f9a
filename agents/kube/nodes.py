"""Kubernetes nodes as the nodes an agent offers.

A node offers its allocatable minus what pods suanchou did not place request: other work on the
cluster is used capacity. The agent's own pods are not subtracted, because the scheduler
already counts the runs it leased. A node that must not receive new pods (cordoned, not Ready)
is offered with exactly what the agent's pods on it hold, so the scheduler keeps its running
replicas there and places nothing new; its label `suanchou.io/unschedulable` says why.

Taints: a taint the agent's `--tolerate` covers is tolerated by every pod the agent creates,
so it is not reported; every other taint is reported (NodeInfo.taints) and the scheduler
places there only jobs whose tolerations match it, their pods carrying those tolerations
(agents.kube.manifest). A node with a NoSchedule/NoExecute taint the scheduler could not be
told of (more than MAX_NODE_TAINTS, or a key or value it refuses) is withheld as above
(`tainted`): dropping the taint could let an untolerating job onto the node.

Labels are the node's own (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`,
`nvidia.com/gpu.product`, ...), those the scheduler would refuse (too long, too many) left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from agents.capacity import MAX_LABEL_LEN, MAX_LABELS, NodeInfo
from agents.kube import quantity
from agents.kube.errors import KubeError
from agents.kube.manifest import AGENT_LABEL, MANAGED_BY, MANAGER, Toleration
from agents.quantities import CPU, MEMORY, check_name, max_quantity
from agents.taints import BLOCKING, EFFECTS, MAX_NODE_TAINTS, NodeTaint, valid

UNSCHEDULABLE_LABEL = "suanchou.io/unschedulable"
# Set to "false" on every node: extended resources are whole devices, so the scheduler keeps
# jobs asking a share of one GPU off these nodes (scheduler.domain.eligibility).
DEVICE_SHARES_LABEL = "suanchou.io/device-shares"
# The scheduler's bound on resource kinds per node (scheduler/domain/resources.py).
MAX_RESOURCE_KINDS = 32
# Kubernetes resources that are not placement dimensions for suanchou.
_IGNORED = ("pods", "ephemeral-storage")

log = structlog.get_logger("suanchou.agent.kubernetes")


def _resource_names(allocatable: Mapping[str, Any]) -> list[str]:
    """Resources to offer: cpu and memory, then extended resources the scheduler accepts,
    at most MAX_RESOURCE_KINDS of them (a Sync with more is refused whole)."""
    names = []
    for name in sorted(allocatable, key=lambda n: (n not in (CPU, MEMORY), n)):
        if name in _IGNORED or name.startswith("hugepages-"):
            continue
        try:
            check_name(name)
        except ValueError:
            continue  # e.g. huawei.com/Ascend910: the scheduler takes lower-case names only
        names.append(name)
    return names[:MAX_RESOURCE_KINDS]


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """What a pod holds on its node, rounded up: the larger of its containers' sum and its
    largest init container, plus the pod overhead (the kube-scheduler's rule). A container
    without requests but with limits requests its limits (the API server's default)."""

    def of(container: Mapping[str, Any]) -> dict[str, int]:
        res = container.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        out = {}
        for name, text in merged.items():
            try:
                out[str(name)] = quantity.canonical(str(name), text, round_up=True)
            except ValueError:
                continue
        return out

    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, value in of(container).items():
            total[name] = total.get(name, 0) + value
    for init in spec.get("initContainers") or []:
        for name, value in of(init).items():
            total[name] = max(total.get(name, 0), value)
    for name, text in (spec.get("overhead") or {}).items():
        try:
            total[name] = total.get(name, 0) + quantity.canonical(name, text, round_up=True)
        except ValueError:
            continue
    return total


def _is_ours(pod: Mapping[str, Any], agent: str) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY) == MANAGER and labels.get(AGENT_LABEL) == agent)


def _unschedulable(node: Mapping[str, Any]) -> str:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return "cordoned"
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = [c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"]
    if not ready or ready[0].get("status") != "True":
        return "not-ready"
    return ""


def _labels(node: Mapping[str, Any]) -> dict[str, str]:
    raw = (node.get("metadata") or {}).get("labels") or {}
    labels = {
        str(k): str(v)
        for k, v in sorted(raw.items())
        if 0 < len(str(k)) <= MAX_LABEL_LEN and len(str(v)) <= MAX_LABEL_LEN
    }
    # Two slots stay free: DEVICE_SHARES_LABEL and UNSCHEDULABLE_LABEL.
    return dict(list(labels.items())[: MAX_LABELS - 2])


def _taints(
    node: Mapping[str, Any], tolerations: Sequence[Toleration]
) -> tuple[tuple[NodeTaint, ...], bool]:
    """The node's taints `tolerations` do not cover, and whether all of those that block
    could be reported (module docstring)."""
    out: dict[tuple[str, str], NodeTaint] = {}
    reportable = True
    for taint in (node.get("spec") or {}).get("taints") or []:
        if not isinstance(taint, dict) or any(t.tolerates(taint) for t in tolerations):
            continue
        key, value = str(taint.get("key", "")), str(taint.get("value") or "")
        effect = str(taint.get("effect", ""))
        if effect not in EFFECTS or not valid(key, value):
            reportable = reportable and effect not in BLOCKING
            continue
        out.setdefault((key, effect), NodeTaint(key, value, effect))
    taints = tuple(sorted(out.values()))
    if len(taints) > MAX_NODE_TAINTS:
        return taints[:MAX_NODE_TAINTS], False
    return taints, reportable


def offered_nodes(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    *,
    agent: str,
    tolerations: Sequence[Toleration] = (),
) -> list[NodeInfo]:
    """The nodes to offer, from `kubectl get nodes` and the active pods (module docstring)."""
    others: dict[str, dict[str, int]] = {}
    ours: dict[str, dict[str, int]] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if not node_name or phase in ("Succeeded", "Failed"):
            continue
        bucket = ours if _is_ours(pod, agent) else others
        used = bucket.setdefault(node_name, {})
        for name, value in pod_requests(pod).items():
            used[name] = used.get(name, 0) + value
    offered = []
    for node in nodes:
        name = str((node.get("metadata") or {}).get("name", ""))
        if not name:
            continue
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        capacity: dict[str, int] = {}
        for resource in _resource_names(allocatable):
            try:
                total = quantity.canonical(resource, allocatable[resource], round_up=False)
            except ValueError:
                continue
            free = max(0, total - others.get(name, {}).get(resource, 0))
            # Beyond the scheduler's bound the whole Sync would be refused; offer the bound.
            capacity[resource] = min(free, max_quantity(resource))
        labels = _labels(node)
        labels[DEVICE_SHARES_LABEL] = "false"
        taints, reportable = _taints(node, tolerations)
        why = _unschedulable(node) or ("" if reportable else "tainted")
        if why:
            held = ours.get(name, {})
            capacity = {r: min(v, held.get(r, 0)) for r, v in capacity.items()}
            labels[UNSCHEDULABLE_LABEL] = why
        capacity.setdefault(CPU, 0)
        capacity.setdefault(MEMORY, 0)
        offered.append(NodeInfo(name, capacity, labels, taints))
    return offered


class ClusterReader(Protocol):
    def list_nodes(self) -> list[dict[str, Any]]: ...

    def list_active_pods(self) -> list[dict[str, Any]]: ...


class KubernetesCapacity:
    """`CapacitySource` over a cluster: re-read at most every `refresh` seconds; when the API
    fails, the last good answer stays offered and the error is logged."""

    def __init__(
        self,
        api: ClusterReader,
        *,
        agent: str,
        tolerations: Sequence[Toleration] = (),
        refresh: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._agent = agent
        self._tolerations = tuple(tolerations)
        self._refresh = refresh
        self._clock = clock
        self._nodes: list[NodeInfo] = []
        self._read_at: float | None = None
        self._read()  # fail at start (ValueError), not at the first sync

    def _read(self) -> None:
        try:
            nodes, pods = self._api.list_nodes(), self._api.list_active_pods()
        except KubeError as exc:
            if self._read_at is None:
                raise ValueError(f"kubernetes: cannot list nodes and pods: {exc}") from None
            log.warning("kubernetes_capacity_stale", error=str(exc), status=exc.status)
            self._read_at = self._clock()
            return
        self._nodes = offered_nodes(nodes, pods, agent=self._agent, tolerations=self._tolerations)
        self._read_at = self._clock()

    def nodes(self) -> list[NodeInfo]:
        if self._read_at is None or self._clock() - self._read_at >= self._refresh:
            self._read()
        return list(self._nodes)
