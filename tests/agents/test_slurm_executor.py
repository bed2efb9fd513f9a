"""What the Slurm executor refuses before calling Slurm, and how it reads job output files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agents.executor import Lease, RunPhase
from agents.slurm.commands import SlurmCommands
from agents.slurm.executor import SlurmExecutor, batch_script


def executor(tmp_path: Path) -> SlurmExecutor:
    # No Slurm is called in these tests: every lease here is refused before sbatch.
    cli = SlurmCommands({"PATH": "/nonexistent"})
    return SlurmExecutor(tmp_path, cli, partition="debug", agent_key="k", poll_interval=0)


@pytest.mark.parametrize(
    ("lease", "message"),
    [
        (
            Lease("r1", "j1", ["true"], env={"A=1; rm -rf /; B": "x"}),
            "env.'A=1; rm -rf /; B': not a valid variable name",
        ),
        (
            Lease("r2", "j1", ["true"], resources={"huawei.com/ascend": 1}),
            "resources.huawei.com/ascend: not available through Slurm here",
        ),
        (Lease("../r3", "j1", ["true"]), "run id '../r3' is not a safe directory name"),
        (Lease("r4", "j1", []), "command: empty"),
    ],
)
def test_a_lease_slurm_must_not_see_fails_with_the_field_named(
    tmp_path: Path, lease: Lease, message: str
) -> None:
    """Env names that are no variable names, resources Slurm is not asked for, unsafe run ids
    and empty commands fail the run with a message naming the field, without a submission."""
    ex = executor(tmp_path)
    ex.start(lease)
    [status] = ex.poll()
    assert status.phase is RunPhase.FAILED and message in status.message
    assert ex.poll() == []


def test_read_output_reads_ranges_and_refuses_what_is_not_a_run_file(tmp_path: Path) -> None:
    """Output is read by offset and size; unknown runs are None; a link or FIFO planted in the
    run directory reads as empty instead of being followed or blocking."""
    ex = executor(tmp_path)
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    (run_dir / "stdout.log").write_bytes(b"hello world")
    assert ex.read_output("r1", "stdout", 6, 100) == b"world"
    assert ex.read_output("r1", "stderr", 0, 100) == b""
    assert ex.read_output("r2", "stdout", 0, 100) is None
    assert ex.read_output("../etc", "stdout", 0, 100) is None
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    (run_dir / "stderr.log").symlink_to(secret)
    assert ex.read_output("r1", "stderr", 0, 100) == b""
    (run_dir / "stdout.log").unlink()
    os.mkfifo(run_dir / "stdout.log")
    assert ex.read_output("r1", "stdout", 0, 100) == b""
    with pytest.raises(ValueError, match="stream: must be stdout or stderr, got 'x'"):
        ex.read_output("r1", "x", 0, 1)


def test_the_batch_script_sets_the_environment_and_execs_the_command_quoted(
    tmp_path: Path,
) -> None:
    """The job's environment and command reach the batch script shell-quoted, so values with
    quotes, newlines or `$(...)` arrive unchanged and run nothing."""
    script = batch_script(["echo", "a b", "$(id)"], {"GREETING": "it's\n$(id)", "PATH": "/bin"})
    path = tmp_path / "job.sh"
    path.write_bytes(script)
    out = subprocess.run(["sh", str(path)], capture_output=True, env={}, check=True).stdout
    assert out == b"a b $(id)\n"
    env_dump = batch_script(["sh", "-c", 'printf %s "$GREETING"'], {"GREETING": "it's\n$(id)"})
    path.write_bytes(env_dump)
    assert subprocess.run(["sh", str(path)], capture_output=True, check=True).stdout == (
        b"it's\n$(id)"
    )
