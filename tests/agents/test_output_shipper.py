"""OutputShipper without a scheduler to talk to: what it gives up on before any call."""

from __future__ import annotations

from pathlib import Path

from agents.client import AgentClient
from agents.executor import LocalExecutor
from agents.output import OutputShipper


def test_runs_the_executor_does_not_know_are_dropped_without_a_call(tmp_path: Path) -> None:
    """A run whose output is gone (never started here, or its directory pruned) is no longer
    followed, both streams at once, and nothing is sent (the address would refuse)."""
    with AgentClient("127.0.0.1:1", "agent-token") as client:
        shipper = OutputShipper(client, LocalExecutor(tmp_path), rpc_timeout=0.5)
        shipper.track("gone-1", ended=True)
        shipper.track("gone-2")
        assert shipper.following == 2
        assert shipper.ship() is False
        assert shipper.following == 0


def test_a_run_with_output_is_shipped_and_a_failed_call_keeps_it(tmp_path: Path) -> None:
    """Output waiting to be shipped when the scheduler cannot be reached stays followed (the
    next call reads it again); the guarded call logs instead of raising."""
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "stdout.log").write_bytes(b"hello\n")
    (run_dir / "stderr.log").write_bytes(b"")
    with AgentClient("127.0.0.1:1", "agent-token") as client:
        shipper = OutputShipper(client, LocalExecutor(tmp_path), rpc_timeout=0.5)
        shipper.track("r1")
        assert shipper.ship_guarded() is False
        assert shipper.following == 1
