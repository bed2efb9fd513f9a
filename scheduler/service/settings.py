"""Tunables of the scheduler's use cases, set once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulerSettings:
    # How often agents should sync, and how long a silent agent keeps its leases.
    sync_interval_s: float = 1.0
    lease_timeout_s: float = 30.0
    # Placements per job before a job whose leases keep getting lost is failed.
    max_attempts: int = 3
    # Applied when a job asks for max_runtime_seconds = 0.
    default_max_runtime_s: int = 24 * 3600
    cycle_interval_s: float = 1.0
    # The most of the wall time cycles woken by submits may take (service.cycle_runner): the
    # rest goes to the RPC threads of the same process.
    cycle_max_duty: float = 0.5
    solver_time_limit_s: float = 1.0
    # The engine's deterministic mode: the same state gives the same decision whatever the
    # machine's load (replays, audits, the city simulator), at the price of a cycle that may
    # take up to ~3x solver_time_limit_s of wall time (the limit is then in work units).
    solver_deterministic: bool = False
    # Pack small GPU work onto GPU nodes already in use (scheduler.service.node_preference), so
    # whole nodes stay free for gangs. Off by default: on the city simulator it raised GPU
    # utilisation and the guarantee kept, but on one of three traces it more than doubled the
    # preemptions (benchmarks/README.md, city simulator), a cause not yet understood.
    gpu_packing: bool = False
    # The solver's best-fit start puts a GPU gang's replicas on as few nodes as room allows
    # (placement EngineParams.compact_gangs), so whole GPU nodes stay free for the gangs that
    # need a node each: over ten city traces the guarantee was kept >= 99% on all ten instead
    # of nine (benchmarks/README.md, city simulator).
    compact_gangs: bool = True
    # Queued jobs considered per cycle, highest priority then oldest first.
    max_jobs_per_cycle: int = 5000
    # Value of the GPU (nvidia.com/gpu) in the solver's work term against 1 for every other
    # resource (placement Problem.resource_value): above 1 the solver packs for GPU-weighted
    # utilisation, the expensive part of a pool. 1 (default): every resource alike.
    gpu_value_weight: int = 1
    # Preemption (issue 9): a running job of a preemptible priority class may be evicted only
    # after it has run this long (from its first replica's start), so work is never thrown
    # away just after it started; and at most this many jobs are evicted per cycle and per
    # minute (counted from the stored PREEMPTED events, so it survives a restart). 0 turns
    # preemption off.
    min_runtime_s: float = 300.0
    max_preemptions_per_cycle: int = 10
    max_preemptions_per_minute: int = 30
    # A quota lowered below what its department runs is enforced on the running work only
    # this long after the change (SetQuota): the department gets the time to wind down, then
    # the cycle preempts the excess (scheduler.service.reclaim). 0: at the next cycle.
    quota_reclaim_delay_s: float = 600.0
    # Half life of the decayed usage fair share compares (scheduler.service.policy): a
    # department's use from one half life ago counts half as much as today's.
    fair_share_half_life_s: float = 7 * 24 * 3600.0
    # Job output (JobService.ReadLogs, scheduler.domain.output): each stream of each replica
    # keeps its first output_head_bytes (0: the tail alone) and its last output_tail_bytes;
    # the rest is dropped and counted. Stored output is deleted output_retention_s after the
    # replica ended.
    output_head_bytes: int = 64 * 1024
    output_tail_bytes: int = 1024 * 1024
    output_retention_s: float = 7 * 24 * 3600.0
    # Leader election on PostgreSQL (service.leadership): the leader renews its lease every
    # leadership_renew_s and a follower takes over once it has not for leadership_ttl_s, so a
    # dead leader is replaced within about ttl + renew (10 s by default).
    leadership_ttl_s: float = 8.0
    leadership_renew_s: float = 2.0
