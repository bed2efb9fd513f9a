"""Reading Slurm's output and mapping its job states, on output captured from Slurm 22.05."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.executor import Failure, RunPhase
from agents.slurm.commands import SlurmCommands, SlurmError, slurm_env
from agents.slurm.jobs import comment, owned_resources, parse_squeue_line
from agents.slurm.parse import ParseError, gres_list, integer, key_values, node_state
from agents.slurm.states import exit_code, run_status, sacct_wait_status

NODE_LINE = (
    "NodeName=vm Arch=x86_64 CoresPerSocket=2  CPUAlloc=1 CPUEfctv=2 CPUTot=2 CPULoad=2.35 "
    "AvailableFeatures=(null) ActiveFeatures=(null) Gres=gpu:2 GresDrain=N/A "
    "GresUsed=gpu:1(IDX:0) NodeAddr=127.0.0.1 NodeHostName=vm Version=22.05.8 "
    "OS=Linux 6.18.44-fc-v1147 #1 SMP PREEMPT_DYNAMIC @0  RealMemory=22900 AllocMem=200 "
    "State=MIXED+DRAIN ThreadsPerCore=1 Reason=maintenance CPUAlloc=99 [root@2026-12-04]"
)


def test_key_values_keeps_spaces_inside_values_and_the_first_of_a_repeated_key() -> None:
    """`OS=Linux 6.18 #1 SMP` stays one value, and a key repeated inside a free-text Reason
    does not override the real field."""
    fields = key_values(NODE_LINE)
    assert fields["OS"] == "Linux 6.18.44-fc-v1147 #1 SMP PREEMPT_DYNAMIC @0"
    assert fields["CPUAlloc"] == "1" and fields["RealMemory"] == "22900"
    assert fields["AvailableFeatures"] == "(null)"


def test_integer_names_the_field_and_quotes_a_short_prefix() -> None:
    """A non-numeric count fails with the record, the field and a cut quote of the value."""
    with pytest.raises(
        ParseError, match=r"node 'vm'\.CPUTot: expected a whole number, got 'x{40}\.\.\.'"
    ):
        integer({"CPUTot": "x" * 500}, "CPUTot", "node 'vm'")
    with pytest.raises(ParseError, match="no RealMemory field"):
        integer({}, "RealMemory", "node 'vm'")


def test_gres_lists_read_typed_untyped_and_indexed_entries() -> None:
    """GRES strings with types, socket/index annotations and several entries are counted."""
    entries = gres_list("gpu:a100:2(S:0-1),gpu:1(IDX:0),mps:100", "Gres")
    assert [(g.name, g.type, g.count) for g in entries] == [
        ("gpu", "a100", 2),
        ("gpu", "", 1),
        ("mps", "", 100),
    ]
    assert gres_list("(null)", "Gres") == []
    with pytest.raises(ParseError, match="Gres: GRES count in 'gpu:a100:many'"):
        gres_list("gpu:a100:many", "Gres")


def test_node_state_splits_flags_and_suffixes() -> None:
    """`MIXED+DRAIN` and `IDLE*` come apart into a base state and flags."""
    assert node_state("MIXED+DRAIN") == ("MIXED", {"DRAIN"})
    assert node_state("IDLE*") == ("IDLE", {"NOT_RESPONDING"})
    assert node_state("DOWN+NOT_RESPONDING") == ("DOWN", {"NOT_RESPONDING"})


def test_squeue_lines_keep_a_comment_with_separators_whole() -> None:
    """The last field (a foreign comment) may contain the separator; exit_code is a wait
    status."""
    job = parse_squeue_line("17|suanchou-r1|FAILED|NonZeroExitCode|768|vm|a|b|c")
    assert (job.job_id, job.run_id, job.state, job.wait_status, job.comment) == (
        "17",
        "r1",
        "FAILED",
        768,
        "a|b|c",
    )
    with pytest.raises(ParseError, match="squeue JobID: not a job id: 'x'"):
        parse_squeue_line("x|n|RUNNING|None|0|vm|")


def test_comment_round_trips_only_for_the_same_agent() -> None:
    """An agent recognises its own jobs' comments and reads their resources back."""
    text = comment("k1", {"cpu": 500, "memory": 128, "nvidia.com/gpu": 1})
    assert owned_resources(text, "k1") == {"cpu": 500, "memory": 128, "nvidia.com/gpu": 1}
    assert owned_resources(text, "k2") is None
    assert owned_resources("someone else's", "k1") is None


@pytest.mark.parametrize(
    ("state", "wait_status", "phase", "code", "message", "failure"),
    [
        ("PENDING", 0, RunPhase.PENDING, None, "waiting in Slurm: Resources", None),
        ("RUNNING", 0, RunPhase.RUNNING, None, "", None),
        ("COMPLETED", 0, RunPhase.SUCCEEDED, 0, "", None),
        ("FAILED", 3 << 8, RunPhase.FAILED, 3, "", None),
        ("FAILED", 9, RunPhase.FAILED, 137, "killed by SIGKILL", None),
        (
            "TIMEOUT",
            15,
            RunPhase.FAILED,
            143,
            "max runtime exceeded (Slurm TIMEOUT)",
            Failure.TIMEOUT,
        ),
        (
            "OUT_OF_MEMORY",
            9,
            RunPhase.FAILED,
            137,
            "out of memory (Slurm OUT_OF_MEMORY)",
            Failure.OOM,
        ),
        ("CANCELLED", 15, RunPhase.FAILED, 143, "cancelled in Slurm, not by suanchou", None),
        (
            "NODE_FAIL",
            0,
            RunPhase.LOST,
            None,
            "the Slurm node failed (NODE_FAIL)",
            Failure.NODE_FAILURE,
        ),
        ("PREEMPTED", 0, RunPhase.LOST, None, "preempted by Slurm (PREEMPTED)", None),
    ],
)
def test_slurm_states_map_to_run_phases_with_slurm_reasons(
    state: str,
    wait_status: int,
    phase: RunPhase,
    code: int | None,
    message: str,
    failure: Failure | None,
) -> None:
    """Each Slurm job state becomes the run phase, exit code, reason and cause the table
    documents."""
    reason = "Resources" if state == "PENDING" else "None"  # as squeue prints them
    status = run_status("r1", state, reason, wait_status)
    assert (status.phase, status.exit_code, status.message) == (phase, code, message)
    assert status.failure is failure


def test_any_end_after_a_cancel_is_cancelled() -> None:
    """Once suanchou asked Slurm to stop a job, however it ends it is CANCELLED."""
    status = run_status("r1", "FAILED", "", 15, stop_asked="cancelled")
    assert (status.phase, status.exit_code, status.message) == (
        RunPhase.CANCELLED,
        143,
        "cancelled",
    )
    assert run_status("r1", "RUNNING", "", 0, stop_asked="cancelled").phase is RunPhase.RUNNING


def test_sacct_exit_codes_become_wait_statuses() -> None:
    """sacct's `code:signal` is read like squeue's wait status."""
    assert exit_code(sacct_wait_status("3:0")) == 3
    assert exit_code(sacct_wait_status("0:15")) == 143


def test_commands_are_bounded_in_time_and_output() -> None:
    """A command that hangs or prints without end is stopped with an error saying which."""
    cli = SlurmCommands({"PATH": "/usr/bin:/bin"}, timeout=0.5, max_output=1000)
    with pytest.raises(SlurmError, match=r"sleep: no answer within 0\.5s"):
        cli.run(["sleep", "30"])
    with pytest.raises(SlurmError, match="yes: printed more than 1000 bytes"):
        cli.run(["yes"])
    with pytest.raises(SlurmError, match=r"false failed \(exit 1\)"):
        cli.run(["false"])
    assert cli.run(["cat"], stdin=b"script") == "script"


def test_slurm_commands_never_see_the_agents_token() -> None:
    """Only PATH, locale, TZ and SLURM_CONF of the agent's environment reach Slurm's programs."""
    env = slurm_env({"PATH": "/bin", "SUANCHOU_AGENT_TOKEN": "secret", "SLURM_CONF": "/x"})
    assert env == {"PATH": "/bin", "SLURM_CONF": "/x"}


def test_a_jobs_path_does_not_choose_the_program_run(tmp_path: Path) -> None:
    """Programs are found on the agent's PATH even when the call runs with a job's environment
    whose PATH points elsewhere (sbatch gets the job's environment)."""
    fake = tmp_path / "true"
    fake.write_text("#!/bin/sh\necho hijacked\n")
    fake.chmod(0o755)
    cli = SlurmCommands({"PATH": "/usr/bin:/bin"})
    assert cli.run(["true"], env={"PATH": str(tmp_path)}) == ""
    with pytest.raises(SlurmError, match="nosuchprogram: not found on PATH"):
        cli.run(["nosuchprogram"])
