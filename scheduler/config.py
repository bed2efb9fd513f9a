"""Server configuration, read in one place: flags > environment > TOML file > defaults."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scheduler.api.budget import DEFAULT_MAX_MESSAGE_BYTES
from scheduler.service.settings import SchedulerSettings

DEFAULT_LISTEN = "127.0.0.1:50051"
# Below 1 MiB a batch of a few maximum-size job specs would not fit in one request; above 1 GiB
# the transport limit (twice it) would overflow gRPC's 32-bit option.
MIN_MAX_MESSAGE_BYTES = 1024 * 1024
MAX_MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
ENV_PREFIX = "SUANCHOU_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = DEFAULT_LISTEN
    database_url: str = "sqlite:///suanchou.db"
    admin_token: str = ""
    log_level: str = "info"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)


# TOML [server] key / environment suffix -> (field, type). Environment: SUANCHOU_<KEY upper>.
_TOP: dict[str, type] = {
    "listen": str,
    "database_url": str,
    "admin_token": str,
    "log_level": str,
    "max_message_bytes": int,
}
_SCHED = {f.name: f.type for f in fields(SchedulerSettings)}


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
    for key in (*_TOP, *_SCHED):
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = raw
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return _build(values)


def _check_key(key: str, where: str) -> None:
    if key not in _TOP and key not in _SCHED:
        raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted([*_TOP, *_SCHED]))})")


def _build(values: Mapping[str, Any]) -> ServerConfig:
    sched = SchedulerSettings()
    top: dict[str, Any] = {}
    for key, value in values.items():
        if key in _TOP:
            top[key] = _coerce(key, value, _TOP[key]) if _TOP[key] is int else str(value)
        else:
            sched = replace(sched, **{key: _coerce(key, value, type(getattr(sched, key)))})
    if sched.lease_timeout_s <= sched.sync_interval_s:
        raise ConfigError("lease_timeout_s must be larger than sync_interval_s")
    size = top.get("max_message_bytes", MIN_MAX_MESSAGE_BYTES)
    if size < MIN_MAX_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes: must be at least {MIN_MAX_MESSAGE_BYTES}")
    if size > MAX_MAX_MESSAGE_BYTES:
        raise ConfigError(f"max_message_bytes: must be at most {MAX_MAX_MESSAGE_BYTES}")
    return ServerConfig(scheduler=sched, **top)


def _coerce(key: str, value: Any, kind: type) -> Any:
    try:
        result = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}") from exc
    if result <= 0:
        raise ConfigError(f"{key}: must be positive, got {value!r}")
    return result
