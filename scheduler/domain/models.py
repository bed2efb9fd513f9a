"""Frozen value types of the pool: departments, clusters, nodes, jobs, runs and events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.domain.retry import RetryPolicy
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.domain.taints import Taint, Toleration


@dataclass(frozen=True)
class Department:
    name: str
    display_name: str
    created_at: datetime
    # The parent's name ("" at the top); by the path convention of scheduler.domain.quotas
    # it is also the name up to its last "/".
    parent: str = ""
    # Priority classes the department's jobs may name.
    priority_classes: tuple[str, ...] = ()
    # Fair-share weight against its siblings (scheduler.service.policy); at least 1.
    fair_share_weight: int = 1


@dataclass(frozen=True)
class ClusterSpec:
    """What a cloud admin declares when registering a cluster."""

    name: str
    region: str
    zone: str = ""
    provider: str = ""
    security_level: int = 1  # 等保 level, 1-4
    xinchuang: bool = False  # 信创 hardware and software
    price: Mapping[str, float] = field(default_factory=dict)  # yuan per unit-hour
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cluster:
    spec: ClusterSpec
    state: ClusterState
    created_at: datetime
    last_heartbeat: datetime | None = None
    # What the agent last reported as failing (SyncRequest.last_error); "" when all is well.
    agent_error: str = ""

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Node:
    cluster: str
    name: str
    capacity: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    # As the agent reported them, sorted (scheduler.domain.taints).
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class Constraints:
    min_security_level: int = 0
    allowed_regions: tuple[str, ...] = ()
    xinchuang_required: bool = False
    node_selector: Mapping[str, str] = field(default_factory=dict)
    # 信创 clusters when one has room, others otherwise: an objective term, not a constraint
    # (never set together with xinchuang_required).
    xinchuang_preferred: bool = False
    # The node's `gpu.model` label must be one of these; () = any.
    gpu_models: tuple[str, ...] = ()
    # Node taints the job tolerates (scheduler.domain.taints).
    tolerations: tuple[Toleration, ...] = ()
    # Cluster affinity (only these; () = any) and an ordered preference, first best
    # (scheduler.domain.cluster_choice).
    clusters: tuple[str, ...] = ()
    preferred_clusters: tuple[str, ...] = ()
    # Cluster affinity by the clusters' labels (ClusterSpec.labels): all must match.
    cluster_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    """Spread over zones and anti-affinity (protos/suanchou/v1/types.proto, Topology; the
    zone rule is scheduler.domain.topology.node_zone)."""

    spread_zones: int = 0  # 0 and 1: no spread
    anti_affinity: bool = False
    # The department's jobs naming one group spread together; "" = the job alone.
    spread_group: str = ""

    @property
    def spreads(self) -> bool:
        return self.spread_zones >= 2


@dataclass(frozen=True)
class JobSpec:
    """What a department asks to run: a gang of identical replicas."""

    client_id: str
    command: tuple[str, ...]
    resources: Mapping[str, int]
    job_set: str = "default"
    name: str = ""
    priority: int = 0
    replicas: int = 1
    # A priority class the department is allowed; when set, `priority` is the class's value.
    priority_class: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    max_runtime_seconds: int = 0
    constraints: Constraints = field(default_factory=Constraints)
    labels: Mapping[str, str] = field(default_factory=dict)
    # Container image for container executors (Kubernetes); "" = the agent's default.
    image: str = ""
    # max_attempts, retry_on and retry_exit_codes (scheduler.domain.retry).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    topology: Topology = field(default_factory=Topology)


@dataclass(frozen=True)
class Job:
    job_id: str
    department: str
    spec: JobSpec
    state: JobState
    created_at: datetime
    updated_at: datetime
    attempt: int = 0
    cluster: str = ""
    reason: str = ""
    message: str = ""
    # Monotonic submit order, used for FIFO tie-breaks and pagination.
    seq: int = 0
    # validation.spec_digest of the spec as accepted; "" for jobs recorded before it existed.
    spec_digest: str = ""
    # The last cycle's effective priority of the job while queued (scheduler.service.policy);
    # None until a cycle has ranked it.
    effective_priority: int | None = None
    # When UpdateJob last changed spec.max_runtime_seconds; None if never. Agents are sent the
    # limits of such jobs' live runs (SyncResponse.runtime_limits).
    max_runtime_changed_at: datetime | None = None


@dataclass(frozen=True)
class Run:
    """One replica of one attempt of a job, leased to a node of a cluster."""

    run_id: str
    job_id: str
    attempt: int
    replica: int
    cluster: str
    node: str
    state: RunState
    created_at: datetime
    exit_code: int | None = None
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Device ids on `node` the scheduler's device packing chose (RunLease.devices).
    devices: tuple[int, ...] = ()
    # The agent's FailureCategory value for a FAILED or LOST run ("" = not known).
    failure: str = ""


@dataclass(frozen=True)
class JobEvent:
    event_id: int
    job_id: str
    department: str
    job_set: str
    state: JobState
    created_at: datetime
    reason: str = ""
    message: str = ""
    cluster: str = ""
    node: str = ""
    attempt: int = 0
    exit_code: int | None = None


@dataclass(frozen=True)
class ClusterVerdict:
    """Whether one cluster can take a job, and why not."""

    cluster: str
    eligible: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Explanation:
    """Why a job is where it is, as of `evaluated_at`."""

    job_id: str
    state: JobState
    reason: str
    message: str
    clusters: tuple[ClusterVerdict, ...]
    evaluated_at: datetime
    position: QueuePosition | None = None  # while queued and ranked


@dataclass(frozen=True)
class QueuePosition:
    """A queued job's place in line by effective priority, then age (1 = next)."""

    department: int
    pool: int
    effective_priority: int
