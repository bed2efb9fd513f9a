"""Which scheduler targets the CLI may reach in plaintext, and local TLS file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.cli.connection import is_loopback_target, open_channel
from scheduler.cli.errors import CliError, UsageError
from scheduler.cli.settings import ClientTls, Settings


@pytest.mark.parametrize(
    ("target", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("localhost:50051", True),
        ("LOCALHOST", True),
        ("[::1]:50051", True),
        ("dns:///localhost:50051", True),
        ("ipv4:127.0.0.1:1,127.0.0.2:2", True),
        ("ipv6:[::1]:50051", True),
        ("unix:/run/suanchou.sock", True),
        ("0.0.0.0:50051", False),
        ("10.0.0.5:50051", False),
        ("scheduler.city.example:50051", False),
        ("dns:///scheduler.city.example:50051", False),
        ("dns://8.8.8.8/localhost.evil.example:1", False),
        ("ipv4:127.0.0.1:1,10.0.0.5:2", False),
    ],
)
def test_loopback_targets(target: str, loopback: bool) -> None:
    """Only targets whose every address is loopback (or a unix socket) count as local."""
    assert is_loopback_target(target) is loopback


def test_plaintext_to_a_remote_scheduler_is_refused_before_connecting() -> None:
    """Without TLS or --insecure the CLI refuses a non-loopback target, naming the flags."""
    settings = Settings(scheduler="scheduler.city.example:50051")
    with (
        pytest.raises(UsageError, match=r"not loopback: pass --tls-ca PATH"),
        open_channel(settings),
    ):
        pass


def test_unreadable_or_non_pem_tls_files_are_local_errors(tmp_path: Path) -> None:
    """A missing CA file or one that is not PEM fails locally, naming the flag."""
    missing = Settings(scheduler="127.0.0.1:1", tls=ClientTls(ca=tmp_path / "absent.pem"))
    with (
        pytest.raises(CliError, match=r"--tls-ca .*absent\.pem: No such file"),
        open_channel(missing),
    ):
        pass
    (tmp_path / "ca.pem").write_text("not a certificate")
    garbage = Settings(scheduler="127.0.0.1:1", tls=ClientTls(ca=tmp_path / "ca.pem"))
    with pytest.raises(CliError, match="not a PEM file"), open_channel(garbage):
        pass
