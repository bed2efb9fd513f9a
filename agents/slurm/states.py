"""Slurm job states to run phases, with Slurm's own reason in the message.

- PENDING, CONFIGURING, REQUEUED, REQUEUE_HOLD, REQUEUE_FED, RESV_DEL_HOLD: PENDING (the
  message quotes Slurm's Reason, e.g. Resources);
- RUNNING, COMPLETING, SUSPENDED, STOPPED, SIGNALING, STAGE_OUT, RESIZING: RUNNING;
- COMPLETED: SUCCEEDED; FAILED, DEADLINE, SPECIAL_EXIT: FAILED with the exit code or signal;
- TIMEOUT: FAILED, "max runtime exceeded (Slurm TIMEOUT)"; OUT_OF_MEMORY: FAILED, "out of
  memory (Slurm OUT_OF_MEMORY)"; CANCELLED that suanchou did not ask for: FAILED, "cancelled in
  Slurm, not by suanchou";
- NODE_FAIL, BOOT_FAIL, PREEMPTED, REVOKED: LOST (an infrastructure failure: the scheduler
  requeues the job as a new attempt);
- any end after suanchou asked to stop the job: CANCELLED.

Exit codes are those of a shell: a death by signal N is 128 + N.
"""

from __future__ import annotations

import signal

from agents.executor import Failure, RunPhase, RunStatus

PENDING_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
LIVE_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
)
_FAILED_REASON = {
    "TIMEOUT": "max runtime exceeded (Slurm TIMEOUT)",
    "OUT_OF_MEMORY": "out of memory (Slurm OUT_OF_MEMORY)",
    "CANCELLED": "cancelled in Slurm, not by suanchou",
    "DEADLINE": "Slurm deadline reached (DEADLINE)",
    "SPECIAL_EXIT": "Slurm SPECIAL_EXIT",
}
_NODE_FAILURES = frozenset({"NODE_FAIL", "BOOT_FAIL"})
_CAUSES = {"TIMEOUT": Failure.TIMEOUT, "OUT_OF_MEMORY": Failure.OOM}
_LOST_REASON = {
    "NODE_FAIL": "the Slurm node failed (NODE_FAIL)",
    "BOOT_FAIL": "the Slurm node failed to boot (BOOT_FAIL)",
    "PREEMPTED": "preempted by Slurm (PREEMPTED)",
    "REVOKED": "revoked by Slurm federation (REVOKED)",
}


def exit_code(wait_status: int) -> int:
    """waitpid()-style status (as squeue's exit_code) to a shell-style exit code."""
    if wait_status & 0x7F:
        return 128 + (wait_status & 0x7F)
    return (wait_status >> 8) & 0xFF


def sacct_wait_status(text: str) -> int:
    """sacct's `ExitCode` ("3:0", "0:15") as a waitpid() status; ValueError otherwise."""
    code, _, sig = text.partition(":")
    return int(sig) if int(sig or 0) else int(code) << 8


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_status(
    run_id: str, state: str, reason: str, wait_status: int, *, stop_asked: str = ""
) -> RunStatus:
    """The run's status for a Slurm job in `state`; `stop_asked` is why suanchou stopped it."""
    base = state.upper().split()[0].rstrip("+") if state else "UNKNOWN"
    if base in PENDING_STATES:
        why = "" if reason in ("", "None") else f"waiting in Slurm: {reason}"
        return RunStatus(run_id, RunPhase.PENDING, None, why[:200])
    if base in LIVE_STATES:
        return RunStatus(run_id, RunPhase.RUNNING)
    code = exit_code(wait_status)
    if stop_asked:
        return RunStatus(run_id, RunPhase.CANCELLED, code, stop_asked)
    if base == "COMPLETED":
        if code == 0:
            return RunStatus(run_id, RunPhase.SUCCEEDED, 0)
        return RunStatus(run_id, RunPhase.FAILED, code)
    if base in _LOST_REASON:
        failure = Failure.NODE_FAILURE if base in _NODE_FAILURES else None
        return RunStatus(run_id, RunPhase.LOST, None, _LOST_REASON[base], failure)
    if base in _FAILED_REASON:
        return RunStatus(run_id, RunPhase.FAILED, code, _FAILED_REASON[base], _CAUSES.get(base))
    if base == "FAILED":
        killed = f"killed by {_signal_name(wait_status & 0x7F)}" if wait_status & 0x7F else ""
        if not killed and reason not in ("", "None", "NonZeroExitCode"):
            killed = f"Slurm: {reason}"
        return RunStatus(run_id, RunPhase.FAILED, code, killed[:200])
    return RunStatus(run_id, RunPhase.FAILED, code, f"Slurm job state {state[:40]}")
