"""Client settings, resolved in this one module: command-line flag > environment > config file.

| setting     | flag            | environment            | config file key | default           |
|-------------|-----------------|------------------------|-----------------|-------------------|
| scheduler   | `--scheduler`   | `SUANCHOU_SCHEDULER`   | `scheduler`     | `127.0.0.1:50051` |
| token       | `--token`       | `SUANCHOU_TOKEN`       | `token`         | none (department) |
| admin token | `--admin-token` | `SUANCHOU_ADMIN_TOKEN` | `admin_token`   | none              |
| token file  | `--token-file`  | `SUANCHOU_TOKEN_FILE`  | `token_file`    | none              |
| admin file  | `--admin-token-file` | `SUANCHOU_ADMIN_TOKEN_FILE` | `admin_token_file` |  |
| config file | `--config`      | `SUANCHOU_CONFIG`      |                 | see below         |
| CA bundle   | `--tls-ca`      | `SUANCHOU_TLS_CA`      | `tls_ca`        | none (plaintext)  |
| client cert | `--tls-cert`    | `SUANCHOU_TLS_CERT`    | `tls_cert`      | none              |
| client key  | `--tls-key`     | `SUANCHOU_TLS_KEY`     | `tls_key`       | none              |
| TLS name    | `--server-name` | `SUANCHOU_SERVER_NAME` | `server_name`   | the target's host |
| plaintext   | `--insecure`    | `SUANCHOU_INSECURE`    | `insecure`      | loopback only     |
| max message | `--max-message-bytes` | `SUANCHOU_MAX_MESSAGE_BYTES` | `max_message_bytes` | 8 MiB |

The token is for job commands (a department's or an operator's token); the admin token is the
token of a named principal (admin, security-admin, auditor) or the server's bootstrap token, for
cluster, department, principal, token and audit commands. Prefer the `*_file` forms: a file
(mode 0600) is not visible in `ps`, not inherited by child processes and not in shell history.
At each level a token beats a token file (`--token` beats `--token-file`, which beats
`SUANCHOU_TOKEN`).

`--tls-ca` (or a client certificate) makes the connection TLS; without it the CLI talks
plaintext, and only to a loopback scheduler unless `insecure` is set (`true` in the file, `1`
in the environment). `--server-name` is the name the server certificate must carry when the
scheduler is dialled by IP address.

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

from scheduler.cli.errors import CliError, UsageError

DEFAULT_SCHEDULER = "127.0.0.1:50051"
ENV_SCHEDULER = "SUANCHOU_SCHEDULER"
ENV_TOKEN = "SUANCHOU_TOKEN"
ENV_ADMIN_TOKEN = "SUANCHOU_ADMIN_TOKEN"
ENV_CONFIG = "SUANCHOU_CONFIG"
ENV_TLS_CA = "SUANCHOU_TLS_CA"
ENV_TLS_CERT = "SUANCHOU_TLS_CERT"
ENV_TLS_KEY = "SUANCHOU_TLS_KEY"
ENV_SERVER_NAME = "SUANCHOU_SERVER_NAME"
ENV_INSECURE = "SUANCHOU_INSECURE"
ENV_TOKEN_FILE = "SUANCHOU_TOKEN_FILE"
ENV_ADMIN_TOKEN_FILE = "SUANCHOU_ADMIN_TOKEN_FILE"
ENV_MAX_MESSAGE_BYTES = "SUANCHOU_MAX_MESSAGE_BYTES"
CONFIG_KEYS: tuple[str, ...] = ("scheduler", "token", "admin_token", "token_file")
CONFIG_KEYS += ("admin_token_file", "tls_ca", "tls_cert", "tls_key", "server_name", "insecure")
CONFIG_KEYS += ("max_message_bytes",)
_BOOLEAN_KEYS = ("insecure",)
MAX_TOKEN_FILE_BYTES = 4096
# The same default as the server's and the agent's `max_message_bytes`.
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def default_config_path() -> Path:
    return Path.home() / ".config" / "suanchou" / "config.toml"


@dataclass(frozen=True)
class ClientTls:
    """How to secure the channel: PEM paths (None = not set) and the plaintext escape hatch."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None
    insecure: bool = False

    @property
    def enabled(self) -> bool:
        return self.ca is not None or self.cert is not None


@dataclass(frozen=True)
class Settings:
    """Where the scheduler is and which credentials to present."""

    scheduler: str
    token: str | None = None
    admin_token: str | None = None
    # The config file actually read, if any; named in messages about missing tokens.
    config_path: Path | None = None
    tls: ClientTls = ClientTls()
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
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    server_name: str | None = None,
    insecure: bool | None = None,
    token_file: str | None = None,
    admin_token_file: str | None = None,
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

    def secret(
        value: str | None, file: str | None, env_name: str, env_file: str, key: str
    ) -> str | None:
        """The first of: flag, flag file, env, env file, config value, config file."""
        sources = (
            (value, False),
            (file, True),
            (env.get(env_name), False),
            (env.get(env_file), True),
            (file_values.get(key), False),
            (file_values.get(key + "_file"), True),
        )
        for given, is_path in sources:
            if given is not None and given.strip():
                return read_token_file(given.strip()) if is_path else given.strip()
        return None

    return Settings(
        scheduler=pick(scheduler, ENV_SCHEDULER, "scheduler") or DEFAULT_SCHEDULER,
        token=secret(token, token_file, ENV_TOKEN, ENV_TOKEN_FILE, "token"),
        admin_token=secret(
            admin_token, admin_token_file, ENV_ADMIN_TOKEN, ENV_ADMIN_TOKEN_FILE, "admin_token"
        ),
        config_path=config_path,
        tls=_client_tls(
            pick(tls_ca, ENV_TLS_CA, "tls_ca"),
            pick(tls_cert, ENV_TLS_CERT, "tls_cert"),
            pick(tls_key, ENV_TLS_KEY, "tls_key"),
            pick(server_name, ENV_SERVER_NAME, "server_name"),
            insecure or _boolean(pick(None, ENV_INSECURE, "insecure"), ENV_INSECURE),
        ),
        max_message_bytes=_byte_count(
            pick(max_message_bytes, ENV_MAX_MESSAGE_BYTES, "max_message_bytes")
        ),
    )


def _client_tls(
    ca: str | None, cert: str | None, key: str | None, server_name: str | None, insecure: bool
) -> ClientTls:
    if (cert is None) != (key is None):
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        raise UsageError(f"{given} needs {missing} ({ENV_TLS_CERT}/{ENV_TLS_KEY}) as well")
    if server_name is not None and ca is None and cert is None:
        raise UsageError(f"--server-name ({ENV_SERVER_NAME}) applies only to TLS: add --tls-ca")

    def path(value: str | None) -> Path | None:
        return Path(value).expanduser() if value is not None else None

    return ClientTls(path(ca), path(cert), path(key), server_name, insecure)


def _boolean(value: str | None, env_name: str) -> bool:
    text = (value or "").lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise UsageError(
        f"{env_name} (or insecure in the config file): expected 1 or 0, got {text[:20]!r}"
    )


def read_token_file(path: str) -> str:
    """The token in the file at `path` (surrounding whitespace removed)."""
    file = Path(path).expanduser()
    try:
        with file.open("rb") as f:
            data = f.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as e:
        raise CliError(f"token file {file}: {e.strerror}") from e
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise CliError(f"token file {file}: larger than {MAX_TOKEN_FILE_BYTES} bytes")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise CliError(f"token file {file}: not an ASCII token") from None
    if not token:
        raise CliError(f"token file {file}: empty")
    return token


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
        if key in _BOOLEAN_KEYS:
            if not isinstance(value, bool):
                raise CliError(f"config file {path}: {key} must be true or false")
            values[key] = "1" if value else "0"
            continue
        if key == "max_message_bytes" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise CliError(f"config file {path}: {key} must be a string")
        values[key] = value
    return values
