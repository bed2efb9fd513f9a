"""`suanchou agent --executor kubernetes` refuses bad flags at start, naming the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.main import EXIT_USAGE, main
from tests.kube_api import KubeApiServer

TOKEN = "kube-flags-token"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--image", "busybox", "--run-as", "nobody"], "--run-as: local executor only"),
        (["--image", "busybox", "--tolerate", "a b"], "--tolerate: 'a b'"),
        (["--image", "busybox", "--agent-name", "no spaces"], "--agent-name: 'no spaces'"),
        (["--image", "busybox", "--kubeconfig", "/nonexistent/kubeconfig"], "cannot load"),
    ],
)
def test_bad_kubernetes_flags_are_usage_errors(
    extra: list[str],
    expected: str,
    tmp_path: Path,
    kube: KubeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each mistake stops the agent with exit 2 and a message naming what is wrong."""
    monkeypatch.setenv("SUANCHOU_AGENT_TOKEN", TOKEN)
    kubeconfig = str(kube.kubeconfig(tmp_path))
    argv = [
        "--executor",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
        "--workdir",
        str(tmp_path / "w"),
    ]
    assert main(argv + extra) == EXIT_USAGE
    assert expected in capsys.readouterr().err


def test_an_api_server_that_refuses_the_agent_stops_it_at_start(
    tmp_path: Path,
    kube: KubeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Missing RBAC (403 on nodes) is a usage error at start, not an empty cluster."""
    monkeypatch.setenv("SUANCHOU_AGENT_TOKEN", TOKEN)
    kube.fail.append(("GET", "/api/v1/nodes", 403))
    argv = [
        "--executor",
        "kubernetes",
        "--kubeconfig",
        str(kube.kubeconfig(tmp_path)),
        "--image",
        "busybox",
        "--workdir",
        str(tmp_path / "w"),
    ]
    assert main(argv) == EXIT_USAGE
    assert "cannot list nodes and pods: 403" in capsys.readouterr().err
