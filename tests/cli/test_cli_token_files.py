"""Tokens read from files: flag, environment and config forms, their precedence, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.cli.errors import CliError
from scheduler.cli.settings import load_settings


def secret(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_token_files_in_flag_environment_and_config(tmp_path: Path) -> None:
    """--token-file, SUANCHOU_ADMIN_TOKEN_FILE and the config's token_file each supply a token,
    stripped of the trailing newline."""
    config = tmp_path / "c.toml"
    config.write_text(f'admin_token_file = "{secret(tmp_path, "cfg", "from-config")}"\n')
    settings = load_settings(
        scheduler=None,
        token=None,
        admin_token=None,
        config=str(config),
        env={},
        token_file=secret(tmp_path, "dept", "from-flag-file\n"),
    )
    assert settings.token == "from-flag-file" and settings.admin_token == "from-config"
    env = {"SUANCHOU_ADMIN_TOKEN_FILE": secret(tmp_path, "env", "from-env-file\n")}
    settings = load_settings(
        scheduler=None, token=None, admin_token=None, config=str(config), env=env
    )
    assert settings.admin_token == "from-env-file"


def test_a_token_beats_a_token_file_at_the_same_level(tmp_path: Path) -> None:
    """A flag token beats a flag token file, which beats the environment."""
    file = secret(tmp_path, "t", "from-file")
    env = {"SUANCHOU_TOKEN": "from-env"}

    def token(flag: str | None) -> str | None:
        return load_settings(
            scheduler=None, token=flag, admin_token=None, config=None, env=env, token_file=file
        ).token

    assert token("from-flag") == "from-flag"
    assert token(None) == "from-file"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file"),
        (b"", "empty"),
        (b"\xff\xfe", "not an ASCII token"),
        (b"x" * 5000, "larger"),
    ],
)
def test_bad_token_files_are_one_line_errors(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    """A missing, empty, binary or oversized token file is an error naming the file."""
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CliError, match=problem) as err:
        load_settings(
            scheduler=None, token=None, admin_token=None, config=None, env={}, token_file=str(path)
        )
    assert str(path) in str(err.value)
