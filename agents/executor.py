"""Executors run leased replicas. `LocalExecutor` runs them as child processes of the agent.

`agents.slurm.executor.SlurmExecutor` implements the same `Executor` protocol with Slurm batch
jobs.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agents.environment import device_env, replica_env
from agents.limits import Limits
from agents.runas import RunAs
from agents.taints import LeaseToleration
from agents.trampoline import trampoline_argv

# Run ids become directory names; anything else could escape the work directory.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The two output streams of a replica (Executor.read_output).
OUTPUT_STREAMS = ("stdout", "stderr")
# Largest read_output answer LocalExecutor gives, whatever max_bytes asks.
MAX_OUTPUT_READ = 1024 * 1024


class Failure(enum.Enum):
    """Causes of a failed or lost run that jobs may retry on (JobSpec.retry_on) or not."""

    OOM = "OOM"
    NODE_FAILURE = "NODE_FAILURE"
    TIMEOUT = "TIMEOUT"


class RunPhase(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    # Started by an earlier agent process that died: how the replica ended is unknown.
    LOST = "LOST"

    @property
    def finished(self) -> bool:
        return self is not RunPhase.PENDING and self is not RunPhase.RUNNING


@dataclass(frozen=True)
class Lease:
    """One replica to run, as leased by the scheduler (decoupled from the wire message)."""

    run_id: str
    job_id: str
    command: Sequence[str]
    replica: int = 0
    replicas: int = 1
    attempt: int = 1
    node: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    max_runtime_seconds: int = 0
    resources: Mapping[str, int] = field(default_factory=dict)
    # The job's container image ("" = none named); only container executors use it.
    image: str = ""
    # Device resources asked as a share of one device, in thousandths (Resources.shares);
    # whole devices are in `resources`.
    shares: Mapping[str, int] = field(default_factory=dict)
    # Device ids on `node` the scheduler chose (RunLease.devices).
    devices: tuple[int, ...] = ()
    # The job's tolerations (RunLease.tolerations); the Kubernetes executor puts them on pods.
    tolerations: tuple[LeaseToleration, ...] = ()

    def device_env(self) -> dict[str, str]:
        """CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES for the leased device ids."""
        return device_env([*self.resources, *self.shares], self.devices)


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    phase: RunPhase
    # Set once the process ended; a death by signal N is reported as 128 + N, like a shell.
    exit_code: int | None = None
    message: str = ""
    # For FAILED or LOST, the cause when the executor knows it (RunReport.failure).
    failure: Failure | None = None


class Executor(Protocol):
    """Runs leases. Called from one thread only (the agent's loop).

    - `start` never raises for a lease that cannot run: it reports the run FAILED instead.
      Starting a run id the executor already holds does nothing.
    - `cancel` asks a run to stop (it later finishes CANCELLED); unknown ids are ignored.
    - `poll` never blocks. It returns the status of every run started and not yet returned as
      finished; a finished status is returned exactly once, then the executor forgets the run
      (keeping it until the scheduler acknowledges it is the agent's job).
    - `shutdown` stops every run, waits for them to end and returns their final statuses.
    - `read_output` returns up to `max_bytes` of a run's `stream` ("stdout" or "stderr") from
      byte `offset`: b"" when nothing is there yet (or beyond the end), None for a run the
      executor does not know (never started here, or its output is gone). It never blocks for
      long, works for finished runs until their output is cleaned up (the agent reads the end
      of a run's output after the run finished), and treats the output as hostile: a job may
      write anything, binary included, or replace its output files.
    - `set_max_runtime` changes a live run's max runtime to `seconds` (> 0), measured from the
      run's start like the lease's: a run past the new limit is stopped and reported FAILED
      ("max runtime ...s exceeded"). Unknown or finished ids are ignored; never raises (a
      change the cluster refuses is logged).
    - `adopt` (after an agent restart) takes over the runs of `run_ids` that the journal says
      an earlier agent process started and that still exist (a Slurm job outlives the agent; a
      local process does not), returning their live statuses; the agent reports the others
      LOST. It raises when it cannot tell, so that no run is declared lost by mistake.
    """

    def start(self, lease: Lease) -> None: ...

    def cancel(self, run_id: str) -> None: ...

    def set_max_runtime(self, run_id: str, seconds: int) -> None: ...

    def poll(self) -> list[RunStatus]: ...

    def shutdown(self) -> list[RunStatus]: ...

    def read_output(
        self, run_id: str, stream: str, offset: int, max_bytes: int
    ) -> bytes | None: ...
    def adopt(self, run_ids: Collection[str]) -> dict[str, RunStatus]: ...


class _Stop(enum.Enum):
    CANCEL = "cancel"
    TIMEOUT = "timeout"
    SHUTDOWN = "shutdown"


@dataclass
class _Proc:
    lease: Lease
    popen: subprocess.Popen[bytes]
    deadline: float | None
    started: float
    limit: int  # max runtime in seconds, 0 = none
    stop: _Stop | None = None
    kill_at: float | None = None


def _resolve(program: str, env: Mapping[str, str], cwd: Path) -> str:
    """The executable that argv[0] names, or the OSError that exec would raise."""
    if "/" in program:
        path = program if os.path.isabs(program) else str(cwd / program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
        return path
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, "not found on PATH", program)
    return found


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _leader_exited(popen: subprocess.Popen[bytes]) -> bool:
    """Whether the process ended, without reaping it (see `LocalExecutor._finish`)."""
    if not hasattr(os, "waitid"):
        return popen.poll() is not None
    try:
        result = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # reaped elsewhere; Popen.wait() copes
    return result is not None


class LocalExecutor:
    """Each replica is a child process in `workdir/<run_id>/`, in its own process group.

    The run directory holds `stdout.log` and `stderr.log`. The environment holds nothing of the
    agent's own but PATH, LANG, LC_ALL and TZ (`agents.environment.PASSTHROUGH`); HOME is the
    run directory; then come the lease's env and SUANCHOU_JOB_ID, SUANCHOU_RUN_ID,
    SUANCHOU_REPLICA and SUANCHOU_REPLICAS. Tokens and any other variable of the agent never
    reach a replica. With `run_as` the replica runs as that user (agents.runas), which owns
    its run directory; `limits` enforces the lease's resources (agents.limits). Stopping
    (cancel, max runtime) sends SIGTERM to the whole group, then SIGKILL after `kill_grace`
    seconds.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        kill_grace: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        base_env: Mapping[str, str] | None = None,
        run_as: RunAs | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self._run_as = run_as
        self._limits = limits or Limits()
        self._kill_grace = kill_grace
        self._clock = clock
        self._base_env = base_env
        self._procs: dict[str, _Proc] = {}
        self._pending: list[RunStatus] = []  # spawn failures, reported at the next poll

    def run_dir(self, run_id: str) -> Path:
        return self.workdir / run_id

    def start(self, lease: Lease) -> None:
        if lease.run_id in self._procs or any(s.run_id == lease.run_id for s in self._pending):
            return
        try:
            popen = self._spawn(lease)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            self._limits.release(lease.run_id)
            code = 127 if getattr(exc, "errno", None) in (errno.ENOENT, errno.ENOTDIR) else 126
            self._pending.append(
                RunStatus(lease.run_id, RunPhase.FAILED, code, f"spawn failed: {exc}")
            )
            return
        now = self._clock()
        limit = max(lease.max_runtime_seconds, 0)
        deadline = now + limit if limit else None
        self._procs[lease.run_id] = _Proc(lease, popen, deadline, now, limit)

    def _spawn(self, lease: Lease) -> subprocess.Popen[bytes]:
        if not RUN_ID_PATTERN.match(lease.run_id):
            raise ValueError(f"run id {lease.run_id[:40]!r} is not a safe directory name")
        if not lease.command or not lease.command[0]:
            raise FileNotFoundError(errno.ENOENT, "empty command")
        run_dir = self.run_dir(lease.run_id)
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        setup = self._limits.setup(lease.run_id, lease.resources)
        if self._run_as is not None:
            self._run_as.give(run_dir)
            setup.update(self._run_as.setup())
        env = replica_env(
            os.environ if self._base_env is None else self._base_env,
            lease.env,
            run_dir.resolve(),
            job_id=lease.job_id,
            run_id=lease.run_id,
            replica=lease.replica,
            replicas=lease.replicas,
            devices=lease.device_env(),
        )
        program = _resolve(lease.command[0], env, run_dir)
        with open(run_dir / "stdout.log", "wb") as out, open(run_dir / "stderr.log", "wb") as err:
            return subprocess.Popen(
                trampoline_argv(program, list(lease.command), setup),
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # own process group: stop the replica and its children
            )

    def cancel(self, run_id: str) -> None:
        proc = self._procs.get(run_id)
        if proc is not None:
            self._stop(proc, _Stop.CANCEL)

    def set_max_runtime(self, run_id: str, seconds: int) -> None:
        """Moves the deadline; the next poll stops a run already past it."""
        proc = self._procs.get(run_id)
        if proc is not None and seconds > 0:
            proc.limit = seconds
            proc.deadline = proc.started + seconds

    def _stop(self, proc: _Proc, why: _Stop) -> None:
        if proc.stop is not None:
            return  # already stopping; keep the first reason and the first kill deadline
        proc.stop = why
        proc.kill_at = self._clock() + self._kill_grace
        _killpg(proc.popen.pid, signal.SIGTERM)

    def poll(self) -> list[RunStatus]:
        statuses, self._pending = self._pending, []
        now = self._clock()
        for run_id, proc in list(self._procs.items()):
            if _leader_exited(proc.popen):
                statuses.append(self._finish(proc))
                del self._procs[run_id]
                continue
            if proc.stop is None and proc.deadline is not None and now >= proc.deadline:
                self._stop(proc, _Stop.TIMEOUT)
            elif proc.kill_at is not None and now >= proc.kill_at:
                _killpg(proc.popen.pid, signal.SIGKILL)
            statuses.append(RunStatus(run_id, RunPhase.RUNNING))
        return statuses

    def _finish(self, proc: _Proc) -> RunStatus:
        # The leader is a zombie until reaped, so its pid, which is the group id, cannot have
        # been reused: killing the group now only hits the replica's leftover descendants.
        _killpg(proc.popen.pid, signal.SIGKILL)
        rc = proc.popen.wait()
        oom = rc != 0 and self._limits.oom_killed(proc.lease.run_id)
        self._limits.release(proc.lease.run_id)
        exit_code, died = (128 - rc, f"killed by {_signal_name(-rc)}") if rc < 0 else (rc, "")
        lease = proc.lease
        if proc.stop is _Stop.TIMEOUT:
            message = f"max runtime {proc.limit}s exceeded"
            return RunStatus(lease.run_id, RunPhase.FAILED, exit_code, message, Failure.TIMEOUT)
        if proc.stop is _Stop.CANCEL:
            return RunStatus(lease.run_id, RunPhase.CANCELLED, exit_code, "cancelled")
        if proc.stop is _Stop.SHUTDOWN:
            return RunStatus(lease.run_id, RunPhase.CANCELLED, exit_code, "agent shut down")
        if oom:  # the scheduler reads "out of memory" as an OOM failure (JobSpec.retry_on)
            died = f"out of memory: {died or 'a process'} at the memory limit"
        phase = RunPhase.SUCCEEDED if rc == 0 else RunPhase.FAILED
        return RunStatus(lease.run_id, phase, exit_code, died, Failure.OOM if oom else None)

    def read_output(self, run_id: str, stream: str, offset: int, max_bytes: int) -> bytes | None:
        """Reads `stdout.log` / `stderr.log` of the run directory (kept after the run ended
        until agents.retention deletes it).

        The replica owns its run directory under --run-as and may replace these files: a
        symlink (O_NOFOLLOW), a FIFO or device (O_NONBLOCK, then not a regular file) or a hard
        link to a file it could not read itself (more than one link) yields no output rather
        than another file's content read with the agent's rights.
        """
        if stream not in OUTPUT_STREAMS:
            raise ValueError(f"stream must be stdout or stderr, got {stream[:20]!r}")
        if not RUN_ID_PATTERN.match(run_id) or not self.run_dir(run_id).is_dir():
            return None
        if offset < 0 or max_bytes <= 0:
            return b""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.run_dir(run_id) / f"{stream}.log", flags)
        except OSError:
            return b""  # not created (the spawn failed), or replaced by a symlink
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                return b""
            return os.pread(fd, min(max_bytes, MAX_OUTPUT_READ), offset)
        except OSError:
            return b""
        finally:
            os.close(fd)

    def adopt(self, run_ids: Collection[str]) -> dict[str, RunStatus]:
        """Nothing to take over: the replicas died with the previous agent (PDEATHSIG)."""
        return {}

    def shutdown(self) -> list[RunStatus]:
        for proc in self._procs.values():
            self._stop(proc, _Stop.SHUTDOWN)
        statuses: list[RunStatus] = []
        # Bounded: every group gets SIGKILL once the grace has passed.
        while True:
            statuses += [s for s in self.poll() if s.phase.finished]
            if not self._procs:
                return statuses
            time.sleep(0.02)
