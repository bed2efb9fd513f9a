"""`sacct`, for jobs slurmctld has already forgotten (after MinJobAge). Only with accounting
(slurmdbd); without it sacct fails and every function here answers "nothing known"."""

from __future__ import annotations

import os

import structlog

from agents.slurm.commands import SlurmCommands, quote
from agents.slurm.jobs import SlurmJob, job_name
from agents.slurm.states import sacct_wait_status

log = structlog.get_logger("suanchou.agent.slurm")
# Ids or names per sacct call: its command line stays a few KiB.
_CHUNK = 100


def later(previous: SlurmJob | None, job: SlurmJob) -> SlurmJob:
    """Of two jobs submitted for one run, the later one (job ids grow)."""
    return job if previous is None or _number(job.job_id) > _number(previous.job_id) else previous


def _number(slurm_id: str) -> int:
    head = slurm_id.split("_")[0]
    return int(head) if head.isdigit() else -1


def final_states(cli: SlurmCommands, slurm_ids: list[str]) -> dict[str, tuple[str, int]]:
    """job id -> (state, wait status) from sacct of jobs slurmctld forgot; {} when accounting
    is off."""
    found: dict[str, tuple[str, int]] = {}
    for first in range(0, len(slurm_ids), _CHUNK):  # bounded command lines
        argv = [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            "--format=JobID,State,ExitCode",
            f"--jobs={','.join(slurm_ids[first : first + _CHUNK])}",
        ]
        rc, out, _ = cli.call(argv)
        if rc != 0:
            return found  # "Slurm accounting storage is disabled"
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) != 3:
                continue
            try:
                found[parts[0]] = (parts[1].split()[0], sacct_wait_status(parts[2]))
            except (ValueError, IndexError):
                log.warning("sacct_unreadable", line=quote(line, 80))
    return found


def jobs_by_name(cli: SlurmCommands, run_ids: list[str]) -> dict[str, SlurmJob]:
    """This user's jobs of `run_ids` in sacct (last 30 days); {} when accounting is off."""
    found: dict[str, SlurmJob] = {}
    wanted = {job_name(r) for r in run_ids}
    for first in range(0, len(run_ids), _CHUNK):  # bounded command lines
        names = ",".join(job_name(r) for r in run_ids[first : first + _CHUNK])
        argv = [
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            f"--user={os.getuid()}",
            "--starttime=now-30days",
            f"--name={names}",
            "--format=JobID,JobName,State,ExitCode",
        ]
        rc, out, _ = cli.call(argv)
        if rc != 0:
            return found  # "Slurm accounting storage is disabled"
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) != 4 or parts[1] not in wanted:
                continue
            try:
                wait_status = sacct_wait_status(parts[3])
            except ValueError:
                log.warning("sacct_unreadable", line=quote(line, 80))
                continue
            state = (parts[2].split() or ["UNKNOWN"])[0]  # "CANCELLED by 0"
            job = SlurmJob(parts[0], parts[1], state, "", wait_status, "", "")
            found[job.run_id] = later(found.get(job.run_id), job)
    return found
