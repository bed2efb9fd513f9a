"""The real Slurm of the test machine (../shared/tools/slurm, started by scripts/test.sh), and
agents that use it. Tests needing Slurm skip without it, but fail when CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.main import agent_key
from agents.slurm.commands import SlurmCommands, SlurmError
from agents.slurm.jobs import SlurmJob, job_name, list_jobs, owned_resources
from scheduler.service.settings import SchedulerSettings
from tests.integration.conftest import Agent, Pool


def slurm_cli() -> SlurmCommands:
    return SlurmCommands(timeout=30)


def require_slurm() -> str:
    """The name of the (single, idle or mixed) test node; skip or fail without Slurm."""
    reason = ""
    if shutil.which("sbatch") is None:
        reason = "Slurm's client programs are not installed"
    else:
        try:
            out = slurm_cli().run(["sinfo", "--noheader", "--Node", "--format=%N %T"])
            rows = [line.split() for line in out.splitlines() if line.strip()]
            if rows:
                return rows[0][0]
            reason = "Slurm has no nodes"
        except SlurmError as exc:
            reason = f"Slurm is not running: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason} (scripts/test.sh starts ../shared/tools/slurm)")
    pytest.skip(reason)


def run_slurm_pool(tmp_path: Path) -> Iterator[Pool]:
    """A scheduler whose lease timeout outlasts an agent restart (Slurm jobs outlive it);
    afterwards, the Slurm jobs its agents left queued or running are cancelled."""
    require_slurm()
    settings = SchedulerSettings(
        sync_interval_s=0.2, lease_timeout_s=30.0, cycle_interval_s=0.2, max_attempts=3
    )
    pool = Pool(tmp=tmp_path, db_url=f"sqlite:///{tmp_path / 'suanchou.db'}", settings=settings)
    pool.start()
    yield pool
    for agent in pool.agents:
        agent.stop()
    pool.stop()
    for name, token in pool.tokens.items():
        if name.startswith("slurm"):
            cancel_leftovers(agent_key(token))


def cancel_leftovers(key: str) -> None:
    """Cancels the Slurm jobs of one test's agent that are still queued or running."""
    cli = slurm_cli()
    for job in list_jobs(cli, ("PENDING", "RUNNING", "SUSPENDED")):
        if owned_resources(job.comment, key) is not None:
            cli.call(["scancel", job.job_id])


def start_slurm_agent(pool: Pool, cluster: str, *extra: str) -> Agent:
    return pool.spawn_agent(cluster, "--executor", "slurm", *extra, kill_grace=2)


def slurm_jobs_of(run_id: str) -> list[SlurmJob]:
    """Every Slurm job (any state slurmctld still remembers) submitted for `run_id`."""
    return [j for j in list_jobs(slurm_cli()) if j.name == job_name(run_id)]


def scontrol_job(slurm_id: str) -> str:
    return slurm_cli().run(["scontrol", "show", "job", "--oneliner", slurm_id])


def set_node_state(node: str, state: str) -> None:
    argv = ["scontrol", "update", f"nodename={node}", f"state={state}"]
    slurm_cli().run([*argv, "reason=suanchou-test"] if state == "drain" else argv)
