"""`SlurmExecutor`: each leased replica is one Slurm batch job, as an `Executor`.

Submission: `sbatch --parsable` with the batch script on stdin (`exec` of the job's command,
shell-quoted), `--job-name=suanchou-<run id>`, a comment naming this agent and the run's
resources (agents.slurm.jobs), `--partition`, `--nodelist=<leased node> --nodes=1
--ntasks=1`, `--cpus-per-task` (millicores rounded up to whole CPUs), `--mem` (MiB),
`--gres=gpu:N` for `nvidia.com/gpu` (a share of one GPU: `--gres=gpu:1`, below), `--time` from
the job's max runtime (whole minutes,
rounded up), `--chdir` and `--output`/`--error` in the run directory
(`<workdir>/<run id>/stdout.log`, `stderr.log`; the work directory must be on a filesystem the
Slurm nodes share), and `--no-requeue` (a node failure ends the run LOST and the scheduler
requeues the job as a new attempt; a Slurm requeue would run the same replica twice).

GPUs: Slurm picks the devices of a `--gres=gpu:N` job and sets its CUDA_VISIBLE_DEVICES (and
binds them when ConstrainDevices is on), so the lease's device ids are not used here. Slurm's
GRES has no fractions without MPS or shards, and a share that ran without GRES would be
invisible to Slurm, which could then hand its device whole to another job (suanchou's own
whole-GPU replicas included): a share therefore holds one whole GPU in Slurm. No device is
ever over its share; the price is that shares the scheduler packed onto one device run one
after the other in Slurm (the later waits in Slurm's queue, PENDING: Resources).

Environment: as for local replicas (agents.environment), set by the batch script itself with
`--export=NONE` (the job gets nothing of the agent's; sbatch gets nothing of the job's), so no
value ever appears on a command line or in a log.

State: one `squeue` per poll interval for this user's jobs; a job slurmctld has already
forgotten is looked up with `sacct` (when accounting is on), else reported LOST.
See agents.slurm.states for the mapping. Cancel: `scancel --full --signal=TERM` (a pending
job: plain `scancel`), then `--signal=KILL` after the kill grace, as the local executor does.

Restart: Slurm jobs outlive the agent. `adopt` finds the jobs of runs the journal says were
started (by name and agent key) and holds them again, so nothing is lost or submitted twice.
A live job of this agent that it does not hold (an sbatch that answered after its timeout, or
one still running when the agent died) is cancelled: its run was already reported failed or
lost, and nothing else would account for it.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import stat
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from agents.environment import replica_env
from agents.executor import RUN_ID_PATTERN, Lease, RunPhase, RunStatus
from agents.quantities import CPU, MEMORY
from agents.slurm.accounting import final_states, jobs_by_name, later
from agents.slurm.commands import SlurmCommands, SlurmError, quote
from agents.slurm.jobs import (
    GPU,
    SlurmJob,
    comment,
    job_name,
    list_jobs,
    owned_resources,
)
from agents.slurm.parse import ParseError
from agents.slurm.states import LIVE_STATES, PENDING_STATES, run_status

STREAMS = {"stdout": "stdout.log", "stderr": "stderr.log"}
MAX_READ = 4 * 1024 * 1024
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A job slurmctld does not list this long after sbatch answered is really gone.
_MISSING_GRACE = 30.0
# While no job is held, Slurm is still asked this often for orphans (see _cancel_orphans).
_SWEEP_INTERVAL = 10.0

log = structlog.get_logger("suanchou.agent.slurm")


def batch_script(command: Sequence[str], env: Mapping[str, str]) -> bytes:
    """The batch script: it sets the replica's whole environment (the job starts with only
    Slurm's variables: --export=NONE) and execs the command, every value shell-quoted."""
    lines = ["#!/bin/sh"]
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"env.{name[:64]!r}: not a valid variable name")
        lines.append(f"export {name}={shlex.quote(value)}")
    # srun steps inside the job inherit this environment, not --export=NONE.
    lines += ["export SLURM_EXPORT_ENV=ALL", f"exec {shlex.join(command)}", ""]
    return "\n".join(lines).encode()


@dataclass
class _Job:
    run_id: str
    slurm_id: str
    node: str
    submitted_at: float
    status: RunStatus
    stop: str = ""  # why suanchou asked Slurm to stop it
    kill_at: float | None = None
    killed: bool = False


class SlurmExecutor:
    """Runs leases as Slurm batch jobs (see the module docstring)."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        cli: SlurmCommands,
        *,
        partition: str,
        agent_key: str,
        kill_grace: float = 10.0,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workdir = Path(workdir)
        self._cli = cli
        self._partition = partition
        self._agent_key = agent_key
        self._kill_grace = kill_grace
        self._poll_interval = poll_interval
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._pending: list[RunStatus] = []  # refused submissions, reported at the next poll
        self._polled_at = float("-inf")
        self._sweep_at = float("-inf")
        self._orphans: set[str] = set()  # job ids already cancelled as orphans

    def run_dir(self, run_id: str) -> Path:
        return self.workdir / run_id

    # -- start -------------------------------------------------------------------------------

    def start(self, lease: Lease) -> None:
        if lease.run_id in self._jobs or any(s.run_id == lease.run_id for s in self._pending):
            return
        try:
            slurm_id = self._submit(lease)
        except (SlurmError, ParseError, OSError, ValueError) as exc:
            message = f"not submitted to Slurm: {exc}"[:500]
            self._pending.append(RunStatus(lease.run_id, RunPhase.FAILED, None, message))
            log.warning("slurm_submit_failed", run_id=lease.run_id, error=message)
            return
        status = RunStatus(lease.run_id, RunPhase.PENDING)
        self._jobs[lease.run_id] = _Job(lease.run_id, slurm_id, lease.node, self._clock(), status)
        log.info("slurm_job_submitted", run_id=lease.run_id, slurm_job=slurm_id, node=lease.node)

    def _submit(self, lease: Lease) -> str:
        if not RUN_ID_PATTERN.match(lease.run_id):
            raise ValueError(f"run id {quote(lease.run_id, 40)} is not a safe directory name")
        if not lease.command or not lease.command[0]:
            raise ValueError("command: empty")
        argv = self._sbatch_argv(lease)
        run_dir = self.run_dir(lease.run_id)
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = replica_env(
            self._cli.env,
            lease.env,
            run_dir.resolve(),
            job_id=lease.job_id,
            run_id=lease.run_id,
            replica=lease.replica,
            replicas=lease.replicas,
        )
        # sbatch itself runs with the agent's few variables (agents.slurm.commands), never the
        # job's: LD_PRELOAD or PATH from a job must not reach a program the agent runs.
        rc, out, err = self._cli.call(argv, stdin=batch_script(lease.command, env))
        if rc != 0:
            raise SlurmError(f"sbatch refused the job (exit {rc}): {quote(err or out)}")
        match = re.match(r"^\s*([0-9]+)(;\S*)?\s*$", out)
        if match is None:
            raise ParseError(f"sbatch --parsable: expected a job id, got {quote(out, 60)}")
        return match.group(1)

    def _sbatch_argv(self, lease: Lease) -> list[str]:
        resources = dict(lease.resources)
        unknown = sorted(k for k, v in resources.items() if v and k not in (CPU, MEMORY, GPU))
        unknown += sorted(k for k, v in lease.shares.items() if v and k != GPU)
        if unknown:
            raise ValueError(f"resources.{unknown[0][:64]}: not available through Slurm here")
        if lease.shares.get(GPU, 0) > 0:
            # A share holds one whole GPU in Slurm (module docstring); the comment records it
            # so the capacity source counts that GPU as this agent's.
            resources[GPU] = max(1, resources.get(GPU, 0))
        run_dir = self.run_dir(lease.run_id).resolve()
        argv = [
            "sbatch",
            "--parsable",
            f"--job-name={job_name(lease.run_id)}",
            f"--comment={comment(self._agent_key, resources)}",
            f"--partition={self._partition}",
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={max(1, math.ceil(resources.get(CPU, 0) / 1000))}",
            f"--chdir={run_dir}",
            f"--output={run_dir / STREAMS['stdout']}",
            f"--error={run_dir / STREAMS['stderr']}",
            "--export=NONE",
            "--no-requeue",
        ]
        if lease.node:
            argv.append(f"--nodelist={lease.node}")
        if resources.get(MEMORY, 0) > 0:  # --mem=0 would mean the whole node
            argv.append(f"--mem={resources[MEMORY]}M")
        if resources.get(GPU, 0) > 0:
            argv.append(f"--gres=gpu:{resources[GPU]}")
        if lease.max_runtime_seconds > 0:
            # Slurm keeps time limits in whole minutes; rounding down would cut a job short.
            argv.append(f"--time={math.ceil(lease.max_runtime_seconds / 60)}")
        return argv

    # -- restart -----------------------------------------------------------------------------

    def adopt(self, run_ids: Collection[str]) -> dict[str, RunStatus]:
        """Holds again the Slurm jobs of `run_ids` (started by an earlier agent process);
        returns their statuses. Raises SlurmError when Slurm cannot say: the runs must then
        not be declared lost."""
        wanted = set(run_ids)
        if not wanted:
            return {}
        found: dict[str, SlurmJob] = {}
        for job in self._my_jobs():
            if job.run_id in wanted and owned_resources(job.comment, self._agent_key) is not None:
                found[job.run_id] = later(found.get(job.run_id), job)
        # Jobs that ended so long ago that slurmctld forgot them are in sacct, if anywhere.
        found.update(jobs_by_name(self._cli, sorted(wanted - set(found))))
        adopted: dict[str, RunStatus] = {}
        for run_id, job in found.items():
            status = run_status(run_id, job.state, job.reason, job.wait_status)
            self._jobs[run_id] = _Job(run_id, job.job_id, job.nodes, self._clock(), status)
            # Reported as live for now: the next poll reports (and journals) how it ended.
            phase = RunPhase.PENDING if status.phase is RunPhase.PENDING else RunPhase.RUNNING
            adopted[run_id] = RunStatus(run_id, phase)
            log.info("slurm_job_adopted", run_id=run_id, slurm_job=job.job_id, state=job.state)
        return adopted

    # -- cancel ------------------------------------------------------------------------------

    def cancel(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        if job is not None:
            self._stop(job, "cancelled")

    def set_max_runtime(self, run_id: str, seconds: int) -> None:
        """`scontrol update JobId=N TimeLimit=M` (whole minutes, rounded up, as sbatch's
        --time). Slurm measures it from the job's start, as suanchou does; a limit already
        passed ends the job TIMEOUT. Slurm lets only its operators, administrators and root
        raise a limit: for another agent user it refuses, and the refusal is logged."""
        job = self._jobs.get(run_id)
        if job is None or job.stop or job.status.phase.finished or seconds <= 0:
            return
        minutes = math.ceil(seconds / 60)
        try:
            self._cli.run(["scontrol", "update", f"JobId={job.slurm_id}", f"TimeLimit={minutes}"])
        except SlurmError as exc:
            log.warning(
                "slurm_time_limit_failed", run_id=run_id, slurm_job=job.slurm_id, error=str(exc)
            )
            return
        log.info("slurm_time_limit_set", run_id=run_id, slurm_job=job.slurm_id, minutes=minutes)

    def _stop(self, job: _Job, why: str) -> None:
        if job.stop:
            return  # already stopping: keep the first reason and kill deadline
        job.stop = why
        job.kill_at = self._clock() + self._kill_grace
        if job.status.phase is RunPhase.PENDING:
            self._scancel(job, [])  # never started: nothing to signal
        elif not self._scancel(job, ["--full", "--signal=TERM"]):
            self._scancel(job, [])

    def _scancel(self, job: _Job, options: list[str]) -> bool:
        try:
            self._cli.run(["scancel", *options, job.slurm_id])
        except SlurmError as exc:
            log.warning(
                "slurm_cancel_failed", run_id=job.run_id, slurm_job=job.slurm_id, error=str(exc)
            )
            return False
        log.info(
            "slurm_job_signalled",
            run_id=job.run_id,
            slurm_job=job.slurm_id,
            how=" ".join(options) or "scancel",
        )
        return True

    # -- poll --------------------------------------------------------------------------------

    def poll(self) -> list[RunStatus]:
        statuses, self._pending = self._pending, []
        now = self._clock()
        if now - self._polled_at < self._poll_interval:
            return statuses + [j.status for j in self._jobs.values() if not j.status.phase.finished]
        self._polled_at = now
        if not self._jobs and now < self._sweep_at:
            return statuses  # nothing to ask Slurm about yet
        self._sweep_at = now + _SWEEP_INTERVAL
        try:
            listed = {job.job_id: job for job in self._my_jobs()}
        except (SlurmError, ParseError) as exc:
            log.warning("slurm_queue_unavailable", error=str(exc))
            return statuses + [j.status for j in self._jobs.values() if not j.status.phase.finished]
        self._cancel_orphans(listed.values())
        missing = [j for j in self._jobs.values() if j.slurm_id not in listed]
        accounted = final_states(self._cli, [j.slurm_id for j in missing]) if missing else {}
        for run_id, job in list(self._jobs.items()):
            found = listed.get(job.slurm_id)
            if found is not None:
                job.status = run_status(
                    run_id, found.state, found.reason, found.wait_status, stop_asked=job.stop
                )
            elif job.slurm_id in accounted:
                state, wait_status = accounted[job.slurm_id]
                job.status = run_status(run_id, state, "", wait_status, stop_asked=job.stop)
            elif now - job.submitted_at > _MISSING_GRACE:
                job.status = RunStatus(
                    run_id,
                    RunPhase.CANCELLED if job.stop else RunPhase.LOST,
                    None,
                    f"Slurm no longer knows job {job.slurm_id}",
                )
            if job.status.phase.finished:
                del self._jobs[run_id]
            elif job.kill_at is not None and now >= job.kill_at and not job.killed:
                job.killed = True
                if not self._scancel(job, ["--full", "--signal=KILL"]):
                    self._scancel(job, [])
            statuses.append(job.status)
        return statuses

    def _cancel_orphans(self, listed: Iterable[SlurmJob]) -> None:
        """Cancels live jobs of this agent that it does not hold: an sbatch that answered too
        late (timeout) or was still running when the previous agent process died. Their runs
        were reported failed or lost, so nobody accounts for them."""
        held = {job.slurm_id for job in self._jobs.values()}
        for job in listed:
            if (
                job.state in PENDING_STATES | LIVE_STATES
                and job.job_id not in held
                and job.job_id not in self._orphans
                and owned_resources(job.comment, self._agent_key) is not None
            ):
                if len(self._orphans) > 10_000:
                    self._orphans.clear()
                self._orphans.add(job.job_id)
                self._cli.call(["scancel", job.job_id])
                log.warning("slurm_orphan_cancelled", slurm_job=job.job_id, name=job.name[:80])

    def _my_jobs(self) -> list[SlurmJob]:
        return list_jobs(self._cli, user=str(os.getuid()))

    # -- shutdown ----------------------------------------------------------------------------

    def shutdown(self) -> list[RunStatus]:
        """Stops every job (TERM, KILL after the grace) and waits, bounded, for their ends."""
        for job in list(self._jobs.values()):
            self._stop(job, "agent shut down")
        deadline = self._clock() + self._kill_grace + 30.0
        statuses: list[RunStatus] = []
        while self._jobs and self._clock() < deadline:
            self._polled_at = float("-inf")
            statuses += [s for s in self.poll() if s.phase.finished]
            if self._jobs:
                time.sleep(0.3)
        for job in list(self._jobs.values()):
            self._scancel(job, [])
            statuses.append(RunStatus(job.run_id, RunPhase.CANCELLED, None, "agent shut down"))
        self._jobs.clear()
        return statuses + [s for s in self._pending]

    # -- output ------------------------------------------------------------------------------

    def read_output(self, run_id: str, stream: str, offset: int, max_bytes: int) -> bytes | None:
        """Up to `max_bytes` (at most MAX_READ) of the run's stdout or stderr file from
        `offset`; b"" before Slurm created it or when it is not a regular file, None for a run
        this agent has no directory for. ValueError for a bad stream, offset or size."""
        if stream not in STREAMS:
            raise ValueError(f"stream: must be stdout or stderr, got {quote(stream, 20)}")
        if offset < 0 or max_bytes < 0:
            raise ValueError("offset and max_bytes must not be negative")
        if not RUN_ID_PATTERN.match(run_id) or not self.run_dir(run_id).is_dir():
            return None
        try:
            # O_NOFOLLOW: the job owns its run directory and could swap the file for a link;
            # O_NONBLOCK: nor may a FIFO put there hang the agent.
            fd = os.open(
                self.run_dir(run_id) / STREAMS[stream],
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK,
            )
        except FileNotFoundError:
            return b""
        except OSError as exc:
            log.warning("slurm_output_unreadable", run_id=run_id, stream=stream, error=str(exc))
            return b""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b""
            return os.pread(fd, min(max_bytes, MAX_READ), offset)
        finally:
            os.close(fd)
