"""LocalExecutor.read_output: a run's output read back by offset, binary-safe, and hostile
replacements of the output files yield nothing rather than another file's content."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agent_helpers import python_cmd, wait_until

from agents.executor import MAX_OUTPUT_READ, Lease, LocalExecutor


def _run(executor: LocalExecutor, run_id: str, code: str) -> None:
    executor.start(Lease(run_id=run_id, job_id=f"job-{run_id}", command=python_cmd(code)))
    wait_until(
        lambda: any(s.run_id == run_id and s.phase.finished for s in executor.poll()),
        what=f"{run_id} to finish",
    )


def test_output_is_read_by_offset_after_the_run_ended(tmp_path: Path) -> None:
    """Both streams are read from any offset in bounded pieces, binary bytes unchanged; past
    the end is b"" and an unknown run is None."""
    executor = LocalExecutor(tmp_path)
    code = "import sys; sys.stdout.buffer.write(bytes(range(256))); print('err', file=sys.stderr)"
    _run(executor, "r1", code)
    assert executor.read_output("r1", "stdout", 0, 1 << 20) == bytes(range(256))
    assert executor.read_output("r1", "stdout", 250, 3) == bytes([250, 251, 252])
    assert executor.read_output("r1", "stdout", 256, 10) == b""
    assert executor.read_output("r1", "stderr", 0, 100) == b"err\n"
    assert executor.read_output("never-started", "stdout", 0, 100) is None
    assert executor.read_output("../../etc", "stdout", 0, 100) is None
    with pytest.raises(ValueError, match="stdout or stderr"):
        executor.read_output("r1", "stdin", 0, 100)


def test_a_read_is_capped_whatever_it_asks(tmp_path: Path) -> None:
    """A read returns at most MAX_OUTPUT_READ bytes however many are asked for."""
    executor = LocalExecutor(tmp_path)
    _run(executor, "big", f"import sys; sys.stdout.write('x' * {MAX_OUTPUT_READ + 10})")
    assert len(executor.read_output("big", "stdout", 0, 10 * MAX_OUTPUT_READ) or b"") == (
        MAX_OUTPUT_READ
    )


def test_swapped_output_files_yield_nothing(tmp_path: Path) -> None:
    """A job that replaces its output files with a symlink, a FIFO or a hard link to another
    file gets no output shipped, and the read never blocks or follows them."""
    secret = tmp_path / "secret"
    secret.write_text("not yours\n")
    executor = LocalExecutor(tmp_path / "work")
    code = f"""
import os
os.remove("stdout.log"); os.symlink({str(secret)!r}, "stdout.log")
os.remove("stderr.log"); os.mkfifo("stderr.log")
"""
    _run(executor, "r1", code)
    assert executor.read_output("r1", "stdout", 0, 100) == b""
    assert executor.read_output("r1", "stderr", 0, 100) == b""
    linked = tmp_path / "work" / "r2"
    _run(executor, "r2", "print('mine')")
    os.remove(linked / "stdout.log")
    os.link(secret, linked / "stdout.log")
    assert executor.read_output("r2", "stdout", 0, 100) == b""
