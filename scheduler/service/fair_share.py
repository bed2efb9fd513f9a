"""Fair share for the cycle's policy (scheduler.service.policy has the formulas): usage
rates, the decayed accumulator and Slurm's classic factor. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from scheduler.domain.quotas import in_subtree, parent_of
from scheduler.domain.resources import NVIDIA_GPU
from scheduler.service.snapshot import Snapshot

# Longest gap between two cycles charged to the usage seen at the later one.
MAX_ACCRUAL_S = 60.0
# With an empty queue the cycle stores usage this often (it writes nothing else then).
IDLE_USAGE_SAVE_S = 5.0


def usage_rate(snap: Snapshot, gpu_value_weight: int) -> dict[str, float]:
    """department -> weighted pool share held now (module docstring), own jobs only."""
    capacity: dict[str, int] = {}
    for n in snap.nodes:
        for r, q in n.capacity.items():
            capacity[r] = capacity.get(r, 0) + q
    rate: dict[str, float] = {}
    for job, nodes in snap.running:
        share = 0.0
        for r, q in job.spec.resources.items():
            if capacity.get(r):
                value = gpu_value_weight if r == NVIDIA_GPU else 1
                share += value * q * len(nodes) / capacity[r]
        rate[job.department] = rate.get(job.department, 0.0) + share
    return rate


def decay(value: float, since: datetime, now: datetime, rate: float, half_life_s: float) -> float:
    """The accumulator advanced from `since` to `now` (module docstring)."""
    dt = max(0.0, (now - since).total_seconds())
    kept = 0.5 ** (dt / half_life_s)
    charged = min(dt, MAX_ACCRUAL_S)
    added = rate * half_life_s / math.log(2) * (1 - 0.5 ** (charged / half_life_s))
    return float(value * kept + added)


def decayed_usage(snap: Snapshot, half_life_s: float, gpu_value_weight: int) -> dict[str, float]:
    rate = usage_rate(snap, gpu_value_weight)
    stored = snap.governance.usage
    out = {}
    for name in sorted(set(stored) | set(rate)):
        value, since = stored.get(name, (0.0, snap.now))
        out[name] = decay(value, since, snap.now, rate.get(name, 0.0), half_life_s)
    return out


def fair_share_factors(
    weights: Mapping[str, int], parents: Mapping[str, str], usage: Mapping[str, float]
) -> dict[str, float]:
    """department -> F = 2^(-usage_share / weight_share) (module docstring)."""
    names = sorted(set(weights) | set(usage))
    siblings: dict[str, int] = {}
    for n in names:
        p = parents.get(n, parent_of(n))
        siblings[p] = siblings.get(p, 0) + max(1, weights.get(n, 1))
    share: dict[str, float] = {}
    for n in sorted(names, key=lambda n: n.count("/")):  # parents before children
        p = parents.get(n, parent_of(n))
        above = share.get(p, 1.0) if p else 1.0
        share[n] = above * max(1, weights.get(n, 1)) / siblings[p]
    total = sum(usage.values())
    out = {}
    for n in names:
        used = sum(u for d, u in usage.items() if in_subtree(d, n))
        out[n] = 2.0 ** (-(used / total) / share[n]) if total > 0 else 1.0
    return out
