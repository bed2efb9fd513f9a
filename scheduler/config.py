"""Server configuration, read in one place: flags > environment > TOML file > defaults."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES
from scheduler.service.security_settings import SecuritySettings
from scheduler.service.settings import SchedulerSettings

DEFAULT_LISTEN = "127.0.0.1:50051"
# Below 1 MiB a batch of a few maximum-size job specs would not fit in one request; above 1 GiB
# the transport limit (twice it) would overflow gRPC's 32-bit option.
MIN_MAX_MESSAGE_BYTES = 1024 * 1024
MAX_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
ENV_PREFIX = "SUANCHOU_"
# A year: a longer delay is "never", which a city says by not lowering the quota.
MAX_QUOTA_RECLAIM_DELAY_S = 365 * 24 * 3600.0
# Takeover after a leader's death takes up to about this long: beyond 5 minutes nothing runs.
MAX_LEADERSHIP_TTL_S = 300.0


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = DEFAULT_LISTEN
    database_url: str = "sqlite:///suanchou.db"
    # Compatibility only: prefer admin_token_file (an environment variable or config value is
    # readable by every process of the user, and by jobs that inherit the environment).
    admin_token: str = ""
    # File holding the bootstrap admin token, which may only create named principals.
    admin_token_file: str = ""
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal
    # PEM paths; empty = plaintext. tls_client_ca turns on mutual TLS (client certs required).
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    insecure: bool = False  # allow plaintext on a non-loopback listen address
    # HOST:PORT of a plaintext port serving grpc.health.v1 alone, for probes that cannot speak
    # TLS (Kubernetes' native gRPC probes); empty = none.
    health_listen: str = ""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # HOST:PORT of the Prometheus endpoint (plain HTTP); "" serves none. Off by default: a
    # scheduler nobody scrapes opens no second port. Port 0 lets the OS choose (tests).
    metrics_listen: str = ""
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)

    def bootstrap_token(self) -> str:
        """The bootstrap admin token: from admin_token_file, else admin_token; "" if neither."""
        if not self.admin_token_file:
            return self.admin_token
        try:
            token = Path(self.admin_token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"admin_token_file {self.admin_token_file}: {exc}") from exc
        if not token:
            raise ConfigError(f"admin_token_file {self.admin_token_file}: the file is empty")
        return token


# TOML [server] key / environment suffix -> (field, type). Environment: SUANCHOU_<KEY upper>.
_TOP: dict[str, type] = {
    "listen": str,
    "database_url": str,
    "admin_token": str,
    "admin_token_file": str,
    "log_level": str,
    "max_message_bytes": int,
    "metrics_listen": str,
}
_TOP |= {"tls_cert": str, "tls_key": str, "tls_client_ca": str, "health_listen": str}
_FLAGS = ("insecure",)  # booleans: TOML true/false, environment 1/0, true/false, yes/no
_SCHED = {f.name: f.type for f in fields(SchedulerSettings)}
_SEC = {f.name: f.type for f in fields(SecuritySettings)}
# Settings where 0 is meaningful: no minimum runtime, preemption turned off, reclaim at once.
_ZERO_OK = frozenset(
    {
        "min_runtime_s",
        "max_preemptions_per_cycle",
        "max_preemptions_per_minute",
        "quota_reclaim_delay_s",
        "output_head_bytes",
    }
)


def load(
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file = path or env.get(f"{ENV_PREFIX}CONFIG")
    if file:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {file}: {exc}") from exc
        section = data.get("server", {})
        if not isinstance(section, dict):
            raise ConfigError(f"config file {file}: [server] must be a table")
        for key, value in section.items():
            _check_key(key, f"{file}: [server].{key}")
            values[key] = value
    for key in (*_TOP, *_FLAGS, *_SCHED, *_SEC):
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = raw
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return _build(values)


def _check_key(key: str, where: str) -> None:
    if key not in _TOP and key not in _FLAGS and key not in _SCHED and key not in _SEC:
        known = ", ".join(sorted([*_TOP, *_FLAGS, *_SCHED, *_SEC]))
        raise ConfigError(f"{where}: unknown key (known: {known})")


def _build(values: Mapping[str, Any]) -> ServerConfig:
    sched = SchedulerSettings()
    security = SecuritySettings()
    top: dict[str, Any] = {}
    for key, value in values.items():
        if key in _TOP:
            top[key] = _coerce(key, value, _TOP[key]) if _TOP[key] is int else str(value)
        elif key in _FLAGS:
            top[key] = _flag(key, value)
        elif key in _SEC:
            kind = type(getattr(security, key))
            security = replace(security, **{key: _coerce(key, value, kind)})
        elif isinstance(getattr(sched, key), bool):
            sched = replace(sched, **{key: _flag(key, value)})
        else:
            sched = replace(sched, **{key: _coerce(key, value, type(getattr(sched, key)))})
    if sched.quota_reclaim_delay_s > MAX_QUOTA_RECLAIM_DELAY_S:
        raise ConfigError(
            f"quota_reclaim_delay_s: must be at most {MAX_QUOTA_RECLAIM_DELAY_S:.0f} (a year)"
        )
    if sched.cycle_max_duty > 1:
        raise ConfigError(f"cycle_max_duty: must be at most 1, got {sched.cycle_max_duty:g}")
    if sched.lease_timeout_s <= sched.sync_interval_s:
        raise ConfigError("lease_timeout_s must be larger than sync_interval_s")
    if sched.leadership_ttl_s > MAX_LEADERSHIP_TTL_S:
        raise ConfigError(f"leadership_ttl_s: must be at most {MAX_LEADERSHIP_TTL_S:.0f}")
    if sched.leadership_renew_s * 2 > sched.leadership_ttl_s:
        # At least two renewals per lease, so one slow round trip does not depose the leader.
        raise ConfigError("leadership_renew_s must be at most half of leadership_ttl_s")
    size = top.get("max_message_bytes", MIN_MAX_MESSAGE_BYTES)
    if size < MIN_MAX_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes: must be at least {MIN_MAX_MESSAGE_BYTES}")
    if size > MAX_MAX_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes: must be at most {MAX_MAX_MESSAGE_BYTES}")
    if top.get("metrics_listen"):
        metrics_address(top["metrics_listen"])
    return ServerConfig(scheduler=sched, security=security, **top)


def metrics_address(text: str) -> tuple[str, int]:
    """(host, port) of a metrics_listen value: HOST:PORT, [IPv6]:PORT; port 0-65535."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535 or len(text) > 270:
        raise ConfigError(f"metrics_listen: expected HOST:PORT (port 0-65535), got {text[:40]!r}")
    return host, int(port)


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: expected true or false, got {str(value)[:20]!r}")


def _coerce(key: str, value: Any, kind: type) -> Any:
    try:
        result = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {str(value)[:20]!r}") from exc
    if isinstance(result, float) and not math.isfinite(result):
        raise ConfigError(f"{key}: must be a finite number, got {str(value)[:20]!r}")
    if result < 0 or (result == 0 and key not in _ZERO_OK):
        kind_word = "non-negative" if key in _ZERO_OK else "positive"
        raise ConfigError(f"{key}: must be {kind_word}, got {str(value)[:20]!r}")
    return result
