"""`suanchou demo` works on a fresh install with nothing set up, with or without a local Slurm."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from scheduler import demo_slurm
from tests.integration.slurm_support import require_slurm

REPO = Path(__file__).resolve().parents[2]


def run_demo(env: dict[str, str] | None = None) -> str:
    """Runs the demo, checks its summary line (every accepted job succeeded); returns stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli.main", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"demo: (\d+) submitted, (\d+) accepted, (\d+) succeeded, "
        r"0 failed, (\d+) rejected",
        last,
    )
    assert match, last
    submitted, accepted, succeeded, rejected = map(int, match.groups())
    assert submitted == accepted + rejected and accepted == succeeded
    assert submitted >= 18 and rejected >= 1
    # Constraints sent jobs to every cluster.
    for cluster in ("xc-gov", "gov-cloud", "gpu-hz"):
        assert f" {cluster} " in proc.stdout
    return proc.stdout


def test_demo_runs_a_job_on_the_local_slurm() -> None:
    """With a local Slurm, the demo adds slurm-hpc and its steered job succeeds there."""
    require_slurm()
    out = run_demo()
    assert "slurm-hpc: skipped" not in out
    assert re.search(r"\btraffic-sim-hpc\s+SUCCEEDED\s+slurm-hpc\s", out), out[-3000:]


def test_demo_without_slurm_skips_it_in_one_line(tmp_path: Path) -> None:
    """Without `sinfo` on PATH, the demo says the Slurm cluster is skipped and runs as before."""
    out = run_demo(dict(os.environ, PATH=str(tmp_path)))
    skipped = [line for line in out.splitlines() if line.startswith("slurm-hpc: skipped")]
    assert skipped == ["slurm-hpc: skipped, no local Slurm (sinfo is not on PATH)"], out[:2000]
    assert "traffic-sim-hpc" not in out and " slurm-hpc " not in out


def test_slurm_probe_names_why_when_sinfo_fails() -> None:
    """A Slurm probe whose `sinfo` exits non-zero offers no partition and quotes the exit code."""
    partition, why = demo_slurm.probe("false")
    assert partition is None and why.startswith("false exited 1"), why
