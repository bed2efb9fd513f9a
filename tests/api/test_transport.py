"""Server transport settings: which listen addresses are loopback, and the TLS config keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from scheduler.api.transport import (
    ServerTls,
    TransportError,
    checked_credentials,
    is_loopback_listen,
)
from scheduler.config import ConfigError, load
from tests.tls_certs import TestPki


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.8.9.10:0", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("unix:/run/suanchou.sock", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        (":50051", False),
        ("10.1.2.3:50051", False),
        ("scheduler.city.example:50051", False),
    ],
)
def test_loopback_listen_addresses(listen: str, loopback: bool) -> None:
    """Only 127.0.0.0/8, ::1, localhost and unix sockets count as staying on the machine."""
    assert is_loopback_listen(listen) is loopback


def test_plaintext_off_loopback_needs_insecure() -> None:
    """Plaintext on a wildcard address is refused, naming the address; insecure allows it."""
    with pytest.raises(TransportError, match=r"0\.0\.0\.0:1 \(not loopback\)"):
        checked_credentials("0.0.0.0:1", ServerTls())
    assert checked_credentials("0.0.0.0:1", ServerTls(insecure=True)) is None
    assert checked_credentials("127.0.0.1:1", ServerTls()) is None


def test_tls_keys_come_from_file_environment_and_flags(tmp_path: Path) -> None:
    """tls_* and insecure are [server] keys and SUANCHOU_* variables; flags win over both."""
    config = tmp_path / "c.toml"
    config.write_text(
        '[server]\ntls_cert = "/f/cert.pem"\ntls_key = "/f/key.pem"\ninsecure = true\n',
        encoding="utf-8",
    )
    env = {"SUANCHOU_TLS_CLIENT_CA": "/e/ca.pem", "SUANCHOU_TLS_KEY": "/e/key.pem"}
    loaded = load(str(config), {"tls_cert": "/flag/cert.pem"}, env)
    assert (loaded.tls_cert, loaded.tls_key, loaded.tls_client_ca) == (
        "/flag/cert.pem",
        "/e/key.pem",
        "/e/ca.pem",
    )
    assert loaded.insecure is True
    assert load(None, None, {"SUANCHOU_INSECURE": "0"}).insecure is False
    assert load(None, None, {"SUANCHOU_INSECURE": "yes"}).insecure is True
    with pytest.raises(ConfigError, match="insecure: expected true or false"):
        load(None, None, {"SUANCHOU_INSECURE": "maybe"})


def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path) -> None:
    """A passphrase-protected key fails at start with a reason instead of asking on the tty."""
    server = TestPki(tmp_path).server()
    key = serialization.load_pem_private_key(server.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(TransportError, match="tls_key: the key is encrypted"):
        checked_credentials("127.0.0.1:0", ServerTls(str(server.cert), str(encrypted)))
    assert checked_credentials("127.0.0.1:0", ServerTls(str(server.cert), str(server.key)))
