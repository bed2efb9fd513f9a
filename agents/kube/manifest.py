"""A lease as a Kubernetes pod manifest, and the labels that find the pod again.

Binding: `spec.nodeName`, not node affinity. The scheduler has already chosen the node and
counted the replica against its capacity; nodeName hands the pod straight to that node's
kubelet, so kube-scheduler can neither place it elsewhere nor leave it Pending on a view of
the cluster that differs from suanchou's. The kubelet still admits the pod against the node's
allocatable (a pod that no longer fits fails with OutOfcpu etc., reported as lost so the job
is requeued). nodeName bypasses NoSchedule taints, so it is the scheduler that keeps a job off
a node whose taints it does not tolerate (the capacity source reports the taints the agent's
`--tolerate` does not cover); the pod carries the agent's tolerations and the job's own
(RunLease.tolerations), so NoExecute taints it was placed under do not evict it.

Requests equal limits (Guaranteed QoS when cpu and memory are both set): the scheduler packs
nodes on exactly these numbers, so a replica may not use more than it was given.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.executor import Lease
from agents.kube.quantity import to_kubernetes

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "suanchou"
AGENT_LABEL = "suanchou.io/agent"
RUN_LABEL = "suanchou.io/run"
JOB_LABEL = "suanchou.io/job"
REPLICA_LABEL = "suanchou.io/replica"
# Label values are at most 63 characters; the annotations keep the exact ids.
RUN_ANNOTATION = "suanchou.io/run-id"
JOB_ANNOTATION = "suanchou.io/job-id"
ATTEMPT_ANNOTATION = "suanchou.io/attempt"
CONTAINER = "replica"

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_TAINT_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def check_label_value(value: str, what: str) -> str:
    """ValueError naming `what` unless `value` is a valid Kubernetes label value."""
    if not _LABEL_VALUE.match(value):
        raise ValueError(f"{what}: {value[:40]!r} is not a Kubernetes label value")
    return value


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else a stable digest of it."""
    if _LABEL_VALUE.match(text):
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def pod_name(run_id: str) -> str:
    """The pod of a run: the same name for the same run id, so a second create is refused
    by the API server (409) instead of running the replica twice."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")[:40].strip("-")
    name = f"suanchou-{slug}" if slug else "suanchou"
    if slug == run_id and _DNS_LABEL.match(name):
        return name
    return f"{name}-{hashlib.sha256(run_id.encode()).hexdigest()[:10]}"


def agent_selector(agent: str) -> str:
    return f"{MANAGED_BY}={MANAGER},{AGENT_LABEL}={agent}"


@dataclass(frozen=True)
class Toleration:
    """A taint the agent's pods tolerate: `key[=value][:Effect]` (no effect: every effect)."""

    key: str
    value: str | None = None
    effect: str = ""

    @classmethod
    def parse(cls, text: str) -> Toleration:
        spec, _, effect = text.partition(":")
        key, eq, value = spec.partition("=")
        if not _TAINT_KEY.match(key) or len(key) > 316:
            raise ValueError(f"--tolerate: {text[:40]!r}: expected KEY[=VALUE][:EFFECT]")
        if effect and effect not in _EFFECTS:
            raise ValueError(f"--tolerate: effect must be one of {', '.join(_EFFECTS)}")
        if eq:
            check_label_value(value, "--tolerate")
        return cls(key, value if eq else None, effect)

    def tolerates(self, taint: Mapping[str, Any]) -> bool:
        if taint.get("key") != self.key:
            return False
        if self.effect and taint.get("effect") != self.effect:
            return False
        return self.value is None or taint.get("value", "") == self.value

    def manifest(self) -> dict[str, str]:
        out = {"key": self.key, "operator": "Exists" if self.value is None else "Equal"}
        if self.value is not None:
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        return out


def pod_env(lease: Lease) -> list[dict[str, str]]:
    """The job's environment plus the run variables, set last so a job cannot fake them."""
    env = dict(lease.env)
    env.update(
        SUANCHOU_JOB_ID=lease.job_id,
        SUANCHOU_RUN_ID=lease.run_id,
        SUANCHOU_REPLICA=str(lease.replica),
        SUANCHOU_REPLICAS=str(lease.replicas),
    )
    return [{"name": name, "value": value} for name, value in env.items()]


def build_pod(
    lease: Lease,
    *,
    image: str,
    namespace: str,
    agent: str,
    kill_grace: int,
    tolerations: Sequence[Toleration] = (),
) -> dict[str, Any]:
    """The pod that runs one replica (see the module docstring for the choices)."""
    resources = to_kubernetes(lease.resources)
    spec: dict[str, Any] = {
        "nodeName": lease.node,
        "restartPolicy": "Never",
        # The pod gets no API credentials and no service environment variables: a job must not
        # reach the cluster's secrets or learn its services from the agent's namespace.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": kill_grace,
        "containers": [
            {
                "name": CONTAINER,
                "image": image,
                "command": list(lease.command),
                "env": pod_env(lease),
                "resources": {"requests": resources, "limits": dict(resources)},
                "securityContext": {"allowPrivilegeEscalation": False},
            }
        ],
    }
    if lease.max_runtime_seconds > 0:
        spec["activeDeadlineSeconds"] = lease.max_runtime_seconds
    wanted = [t.manifest() for t in tolerations] + [t.manifest() for t in lease.tolerations]
    if wanted:
        spec["tolerations"] = [t for i, t in enumerate(wanted) if t not in wanted[:i]]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(lease.run_id),
            "namespace": namespace,
            "labels": {
                MANAGED_BY: MANAGER,
                AGENT_LABEL: agent,
                RUN_LABEL: label_value(lease.run_id),
                JOB_LABEL: label_value(lease.job_id),
                REPLICA_LABEL: str(lease.replica),
            },
            "annotations": {
                RUN_ANNOTATION: lease.run_id,
                JOB_ANNOTATION: lease.job_id,
                ATTEMPT_ANNOTATION: str(lease.attempt),
            },
        },
        "spec": spec,
    }
