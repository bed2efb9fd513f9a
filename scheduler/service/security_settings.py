"""Settings of authentication throttling and audit retention (config keys of the same names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SecuritySettings:
    # This many failed authentications from one IP within the window lock it out.
    auth_max_failures: int = 20
    auth_failure_window_s: float = 60.0
    # How long a locked-out IP is refused (RESOURCE_EXHAUSTED) without a token lookup.
    auth_lockout_s: float = 60.0
    # Peers tracked at once; the least recently failing are forgotten beyond this.
    auth_max_tracked_peers: int = 10_000
    # Audit records older than this are pruned (等保 asks for at least 6 months).
    audit_retention_days: int = 180
    # How often the server prunes.
    audit_prune_interval_s: float = 3600.0
