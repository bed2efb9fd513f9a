"""Which scheduler targets the CLI may reach in plaintext, and local TLS file errors."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from scheduler.cli.connection import is_loopback_target, open_channel, with_retries
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


class _Refusal(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def test_idempotent_calls_are_retried_while_the_server_is_busy_or_restarting() -> None:
    """RESOURCE_EXHAUSTED and UNAVAILABLE are retried with doubling delays; other codes and the
    last attempt's refusal reach the caller."""
    answers: list[grpc.StatusCode | str] = [
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        "done",
    ]
    slept: list[float] = []

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, grpc.StatusCode):
            raise _Refusal(answer)
        return answer

    assert with_retries(call, sleep=slept.append) == "done"
    assert slept == [0.5, 1.0]
    answers[:] = [grpc.StatusCode.INVALID_ARGUMENT]
    with pytest.raises(grpc.RpcError):
        with_retries(call, sleep=slept.append)
    answers[:] = [grpc.StatusCode.UNAVAILABLE] * 2
    with pytest.raises(grpc.RpcError):
        with_retries(call, attempts=2, sleep=slept.append)
    assert slept == [0.5, 1.0, 0.5]
