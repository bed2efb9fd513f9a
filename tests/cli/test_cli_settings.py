"""Client settings: flag > environment > config file > default, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.cli.errors import CliError, UsageError
from scheduler.cli.settings import DEFAULT_SCHEDULER, ClientTls, Settings, load_settings


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(env: dict[str, str] | None = None, **flags: str | None) -> Settings:
    values: dict[str, str | None] = {
        "scheduler": None, "token": None, "admin_token": None, "config": None,
    }  # fmt: skip
    values.update(flags)
    return load_settings(env=env or {}, **values)


def test_flag_beats_environment_beats_file(tmp_path):
    """Each setting comes from the flag if given, else the environment, else the config file."""
    config = write_config(
        tmp_path / "c.toml", 'scheduler = "file:1"\ntoken = "file-t"\nadmin_token = "file-a"\n'
    )
    env = {"SUANCHOU_SCHEDULER": "env:2", "SUANCHOU_TOKEN": "env-t"}
    settings = load(env, config=str(config), scheduler="flag:3")
    assert settings.scheduler == "flag:3"
    assert settings.token == "env-t"
    assert settings.admin_token == "file-a"


def test_config_path_from_environment_and_default_location(tmp_path, monkeypatch):
    """SUANCHOU_CONFIG names the file; without it ~/.config/suanchou/config.toml is read."""
    named = write_config(tmp_path / "named.toml", 'token = "named"\n')
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write_config(home / ".config" / "suanchou" / "config.toml", 'token = "default"\n')
    assert load({"SUANCHOU_CONFIG": str(named)}).token == "named"
    assert load().token == "default"
    assert load(config=str(named)).config_path == named


def test_defaults_without_any_source():
    """With no flag, variable or file the scheduler is 127.0.0.1:50051 and no token is set."""
    settings = load()
    assert settings.scheduler == DEFAULT_SCHEDULER == "127.0.0.1:50051"
    assert settings.token is None and settings.admin_token is None


def test_empty_values_count_as_unset_and_tokens_are_stripped(tmp_path):
    """An empty variable falls through to the file; a trailing newline is not sent."""
    config = write_config(tmp_path / "c.toml", 'token = "from-file\\n"\n')
    settings = load({"SUANCHOU_TOKEN": ""}, config=str(config))
    assert settings.token == "from-file"


def test_missing_tokens_name_flag_variable_and_file(tmp_path):
    """Asking for an absent token fails locally, naming the flag, the variable and the file key."""
    settings = load()
    with pytest.raises(CliError, match=r"--token, set SUANCHOU_TOKEN, or put `token = "):
        settings.department_token()
    with pytest.raises(CliError, match=r"--admin-token, set SUANCHOU_ADMIN_TOKEN"):
        settings.admin()


def test_non_ascii_token_is_a_local_error():
    """A token gRPC cannot send as a header is refused before any call, naming the flag."""
    with pytest.raises(CliError, match=r"printable ASCII \(--token"):
        load(token="令牌").department_token()


def test_config_file_errors_name_the_file_and_key(tmp_path):
    """A missing named file, bad TOML, an unknown key and a non-string value are all errors."""
    with pytest.raises(CliError, match="does not exist"):
        load(config=str(tmp_path / "absent.toml"))
    broken = write_config(tmp_path / "broken.toml", "token = \n")
    with pytest.raises(CliError, match=r"broken\.toml"):
        load(config=str(broken))
    typo = write_config(tmp_path / "typo.toml", 'admin-token = "x"\n')
    with pytest.raises(CliError, match="unknown key 'admin-token'"):
        load(config=str(typo))
    number = write_config(tmp_path / "number.toml", "token = 5\n")
    with pytest.raises(CliError, match="token must be a string"):
        load(config=str(number))


def test_tables_for_other_programs_are_ignored(tmp_path):
    """A shared file's [server] table (read by `suanchou server`) does not upset the client."""
    config = write_config(
        tmp_path / "c.toml", 'scheduler = "s:1"\n[server]\nlisten = "0.0.0.0:50051"\n'
    )
    assert load(config=str(config)).scheduler == "s:1"


def test_tls_settings_from_flags_environment_and_file(tmp_path):
    """TLS paths, the server name and insecure resolve flag > environment > file like the rest."""
    config = write_config(
        tmp_path / "c.toml",
        'tls_ca = "~/ca.pem"\ntls_cert = "/f/c.pem"\ntls_key = "/f/k.pem"\ninsecure = true\n',
    )
    env = {"SUANCHOU_TLS_KEY": "/e/k.pem", "SUANCHOU_SERVER_NAME": "scheduler.city.example"}
    tls = load_settings(
        scheduler=None,
        token=None,
        admin_token=None,
        config=str(config),
        env=env,
        tls_cert="/flag/c.pem",
    ).tls
    assert tls.ca == Path("~/ca.pem").expanduser()
    assert (tls.cert, tls.key) == (Path("/flag/c.pem"), Path("/e/k.pem"))
    assert tls.server_name == "scheduler.city.example"
    assert tls.insecure is True and tls.enabled is True
    assert load({"SUANCHOU_INSECURE": "0"}, config=str(config)).tls.insecure is False
    assert load().tls == ClientTls()


def test_tls_setting_mistakes_are_usage_errors(tmp_path):
    """A certificate without its key, a server name without TLS or a non-boolean are refused."""
    with pytest.raises(UsageError, match="--tls-cert needs --tls-key"):
        load({"SUANCHOU_TLS_CERT": "/c.pem"})
    with pytest.raises(UsageError, match=r"--server-name .* applies only to TLS"):
        load({"SUANCHOU_SERVER_NAME": "x.example"})
    with pytest.raises(UsageError, match=r"SUANCHOU_INSECURE .*expected 1 or 0"):
        load({"SUANCHOU_INSECURE": "perhaps"})
    text = write_config(tmp_path / "c.toml", 'insecure = "yes"\n')
    with pytest.raises(CliError, match="insecure must be true or false"):
        load(config=str(text))
