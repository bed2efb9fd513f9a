"""A log line written to a closed or broken stderr is dropped; the thread logging it lives on."""

from __future__ import annotations

import io
import sys
import threading

import pytest
import structlog

from scheduler import logs


class _Broken(io.StringIO):
    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("kind", ["closed", "broken"])
def test_a_thread_logging_to_a_dead_stream_keeps_running(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = io.StringIO() if kind == "closed" else _Broken()
    if kind == "closed":
        dead.close()
    monkeypatch.setattr(sys, "stderr", dead)
    logs.configure("info", json=True)
    after: list[str] = []

    def work() -> None:
        structlog.get_logger().info("leadership_gained", term=1)
        after.append("went on")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=10)
    assert after == ["went on"]


def test_lines_reach_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    live = io.StringIO()
    monkeypatch.setattr(sys, "stderr", live)
    logs.configure("info", json=True)
    structlog.get_logger().info("cycle_done", placed=3)
    assert '"event": "cycle_done"' in live.getvalue() and '"placed": 3' in live.getvalue()
