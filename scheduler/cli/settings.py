"""Client settings, resolved in this one module: command-line flag > environment > config file.

| setting     | flag                  | environment                  | config file key     |
|-------------|-----------------------|------------------------------|---------------------|
| scheduler   | `--scheduler`         | `SUANCHOU_SCHEDULER`         | `scheduler`         |
| token       | `--token`             | `SUANCHOU_TOKEN`             | `token`             |
| admin token | `--admin-token`       | `SUANCHOU_ADMIN_TOKEN`       | `admin_token`       |
| config file | `--config`            | `SUANCHOU_CONFIG`            |                     |
| max message | `--max-message-bytes` | `SUANCHOU_MAX_MESSAGE_BYTES` | `max_message_bytes` |

Defaults: scheduler `127.0.0.1:50051`, no tokens, config file see below, max message 8388608.

`max_message_bytes` is the largest message the CLI sends or receives; it should equal the
server's (the server refuses larger requests and keeps its replies within half of it), and
`job submit` splits its batches to stay within half of it too.

The config file is TOML; the client reads only those top-level keys and ignores
tables, so one file can also hold the `[server]` table that `suanchou server` reads:

    scheduler = "scheduler.gov.example:50051"
    token = "dept-..."

    [server]
    listen = "0.0.0.0:50051"

Without `--config` or `SUANCHOU_CONFIG`, `~/.config/suanchou/config.toml` is read if it exists;
a file named explicitly must exist. An empty flag or variable counts as unset, so
`SUANCHOU_TOKEN= suanchou ...` falls back to the file instead of sending an empty token.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scheduler.cli.errors import CliError

DEFAULT_SCHEDULER = "127.0.0.1:50051"
ENV_SCHEDULER = "SUANCHOU_SCHEDULER"
ENV_TOKEN = "SUANCHOU_TOKEN"
ENV_ADMIN_TOKEN = "SUANCHOU_ADMIN_TOKEN"
ENV_CONFIG = "SUANCHOU_CONFIG"
ENV_MAX_MESSAGE_BYTES = "SUANCHOU_MAX_MESSAGE_BYTES"
CONFIG_KEYS = ("scheduler", "token", "admin_token", "max_message_bytes")
# The same default as the server's and the agent's `max_message_bytes`.
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def default_config_path() -> Path:
    return Path.home() / ".config" / "suanchou" / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Where the scheduler is and which credentials to present."""

    scheduler: str
    token: str | None = None
    admin_token: str | None = None
    # The config file actually read, if any; named in messages about missing tokens.
    config_path: Path | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def department_token(self) -> str:
        return self._token(self.token, "department token", "--token", ENV_TOKEN, "token")

    def admin(self) -> str:
        return self._token(
            self.admin_token, "admin token", "--admin-token", ENV_ADMIN_TOKEN, "admin_token"
        )

    def _token(self, value: str | None, what: str, flag: str, env: str, key: str) -> str:
        if value is None:
            where = self.config_path or default_config_path()
            raise CliError(f'no {what}: pass {flag}, set {env}, or put `{key} = "..."` in {where}')
        # gRPC refuses other header bytes with an opaque "INTERNAL: Invalid metadata"; say why.
        if not all(" " <= char <= "~" for char in value):
            raise CliError(f"the {what} has characters other than printable ASCII ({flag}, {env})")
        return value


def load_settings(
    *,
    scheduler: str | None,
    token: str | None,
    admin_token: str | None,
    config: str | None,
    env: Mapping[str, str],
    max_message_bytes: str | None = None,
) -> Settings:
    """Resolves every setting from flags (None = not given), `env` and the config file."""
    config_path = _config_path(config, env)
    file_values = _read_config(config_path) if config_path is not None else {}

    def pick(flag: str | None, env_name: str, key: str) -> str | None:
        for value in (flag, env.get(env_name), file_values.get(key)):
            if value is not None and value.strip():
                # Tokens are often pasted or read with `$(cat file)`; a stray newline would
                # otherwise end up inside the authorization header.
                return value.strip()
        return None

    return Settings(
        scheduler=pick(scheduler, ENV_SCHEDULER, "scheduler") or DEFAULT_SCHEDULER,
        token=pick(token, ENV_TOKEN, "token"),
        admin_token=pick(admin_token, ENV_ADMIN_TOKEN, "admin_token"),
        config_path=config_path,
        max_message_bytes=_byte_count(
            pick(max_message_bytes, ENV_MAX_MESSAGE_BYTES, "max_message_bytes")
        ),
    )


def _byte_count(value: str | None) -> int:
    if value is None:
        return DEFAULT_MAX_MESSAGE_BYTES
    if not value.isdecimal() or not 1024 * 1024 <= int(value) <= 1024**3:
        raise CliError(
            f"max_message_bytes must be a whole number of bytes from 1048576 (1 MiB) to "
            f"1073741824 (1 GiB), as the server's, got {value!r:.40}"
        )
    return int(value)


def _config_path(flag: str | None, env: Mapping[str, str]) -> Path | None:
    named = flag or env.get(ENV_CONFIG)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            source = "--config" if flag else ENV_CONFIG
            raise CliError(f"config file {path} (from {source}) does not exist")
        return path
    default = default_config_path()
    return default if default.is_file() else None


def _read_config(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise CliError(f"config file {path}: {e}") from e
    except OSError as e:
        raise CliError(f"config file {path}: {e.strerror}") from e
    values: dict[str, str] = {}
    for key, value in data.items():
        # One file may configure every program: `suanchou server` reads its [server] table
        # from the same SUANCHOU_CONFIG. Tables belong to them; top-level keys to the client.
        if isinstance(value, dict):
            continue
        # A misspelt key (`admin-token`) would otherwise be ignored silently and the command
        # would fail later with a confusing "no admin token".
        if key not in CONFIG_KEYS:
            raise CliError(
                f"config file {path}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})"
            )
        if key == "max_message_bytes" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise CliError(f"config file {path}: {key} must be a string")
        values[key] = value
    return values
