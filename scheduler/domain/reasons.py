"""Stable reason codes carried by jobs, events and explanations."""

from __future__ import annotations

# Job-level (why queued / rejected / placed / ended)
NO_ELIGIBLE_CLUSTER = "NO_ELIGIBLE_CLUSTER"
NO_FITTING_NODE = "NO_FITTING_NODE"
INSUFFICIENT_CAPACITY = "INSUFFICIENT_CAPACITY"
GANG_INCOMPLETE = "GANG_INCOMPLETE"
OUTRANKED = "OUTRANKED"
QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
NOT_YET_SCHEDULED = "NOT_YET_SCHEDULED"
PLACED = "PLACED"
RUNNING = "RUNNING"
EXIT_CODE = "EXIT_CODE"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
LEASE_LOST = "LEASE_LOST"
# Back to the queue (RUNNING or LEASED -> QUEUED) to make room for another job; unlike
# LEASE_LOST it is not the job's fault, so it must not count against its attempts.
PREEMPTED = "PREEMPTED"
# Queued, placed by the solver on room that preempted replicas still hold: it is leased by a later
# cycle, once they stopped (they get a grace period), and meanwhile preempts nothing more.
AWAITING_PREEMPTION = "AWAITING_PREEMPTION"
MAX_ATTEMPTS = "MAX_ATTEMPTS"
# Queued again after a replica failed in a way the job's retry policy covers (an exit code in
# retry_exit_codes, OOM in retry_on); LEASE_LOST for a lost one (scheduler.domain.retry).
RETRYING = "RETRYING"
# FAILED: a replica was lost or its node failed, and the job's retry_on leaves that out.
NOT_RETRIED = "NOT_RETRIED"
CLUSTER_REMOVED = "CLUSTER_REMOVED"
# An event without a state change: the job's max runtime was changed (JobService.UpdateJob).
MAX_RUNTIME_CHANGED = "MAX_RUNTIME_CHANGED"
# Queued while every cluster that meets its constraints is cordoned, draining or lost.
CLUSTERS_UNAVAILABLE = "CLUSTERS_UNAVAILABLE"

# Queued or rejected, and a cluster's verdict, when JobSpec.topology keeps the job out: too
# few zones with (room for) eligible nodes for its spread, too few distinct nodes for its
# anti-affinity (scheduler.domain.topology).
SPREAD = "SPREAD"
ANTI_AFFINITY = "ANTI_AFFINITY"

# Cluster-level verdicts
SECURITY_LEVEL = "SECURITY_LEVEL"
REGION = "REGION"
XINCHUANG = "XINCHUANG"
NODE_SELECTOR = "NODE_SELECTOR"
# No node of the cluster has a `gpu.model` label among the job's Constraints.gpu_models.
GPU_MODEL = "GPU_MODEL"
# The job asks a share of one device and every node runs whole devices only (Kubernetes).
DEVICE_SHARES = "DEVICE_SHARES"
# The job names the clusters it may run on (Constraints.clusters) and not this one.
CLUSTER_AFFINITY = "CLUSTER_AFFINITY"
# Every node that meets the job's labels has a NoSchedule/NoExecute taint it does not tolerate.
TAINTED = "TAINTED"
NO_NODES = "NO_NODES"
NOT_SCHEDULABLE = "NOT_SCHEDULABLE"
FITS = "FITS"
CHOSEN = "CHOSEN"
