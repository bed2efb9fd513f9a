"""How suanchou's Slurm jobs are named and found again.

Each replica is one batch job named `suanchou-<run id>` whose comment is
`suanchou:<agent key>:cpu=<millicores>,memory=<MiB>,gpu=<count>`. The name lets a restarted
agent find the job of a run it had submitted (instead of submitting it again); the agent key
(a hash of the cluster's token) tells this agent's jobs from other agents' on a shared Slurm;
the resources are what the scheduler counted for the run, so that the capacity source can
count every other job on a node as used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agents.quantities import CPU, MEMORY
from agents.slurm.commands import SlurmCommands, quote
from agents.slurm.parse import ParseError

NAME_PREFIX = "suanchou-"
COMMENT_PREFIX = "suanchou:"
GPU = "nvidia.com/gpu"
# `squeue -O` with an explicit `|` after each field prints values unpadded and uncut; the
# comment comes last because foreign comments may contain `|`.
_FORMAT = "JobID:|,Name:|,State:|,Reason:|,exit_code:|,NodeList:|,Comment:"
_FIELDS = 7
# Slurm states in which a job holds its allocation.
HOLDING = ("RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING", "STOPPED", "SIGNALING")


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    state: str
    reason: str
    wait_status: int  # as waitpid() reports it: exit code << 8, or the signal number
    nodes: str
    comment: str

    @property
    def run_id(self) -> str:
        return self.name[len(NAME_PREFIX) :] if self.name.startswith(NAME_PREFIX) else ""


def job_name(run_id: str) -> str:
    return NAME_PREFIX + run_id


def comment(agent_key: str, resources: Mapping[str, int]) -> str:
    cpu, memory, gpu = (int(resources.get(k, 0)) for k in (CPU, MEMORY, GPU))
    return f"{COMMENT_PREFIX}{agent_key}:cpu={cpu},memory={memory},gpu={gpu}"


def owned_resources(text: str, agent_key: str) -> dict[str, int] | None:
    """The resources a comment of this agent's records; None for anyone else's job."""
    prefix = f"{COMMENT_PREFIX}{agent_key}:"
    if not text.startswith(prefix):
        return None
    found: dict[str, int] = {}
    for item in text[len(prefix) :].split(","):
        key, _, value = item.partition("=")
        if key in ("cpu", "memory", "gpu") and re.fullmatch(r"[0-9]{1,12}", value):
            found[{"cpu": CPU, "memory": MEMORY, "gpu": GPU}[key]] = int(value)
    return found


def list_jobs(
    cli: SlurmCommands, states: Iterable[str] = ("all",), user: str = ""
) -> list[SlurmJob]:
    """Jobs slurmctld still holds in memory (finished ones for MinJobAge), one squeue call."""
    argv = ["squeue", "--noheader", "--all", "--states", ",".join(states), "--Format", _FORMAT]
    if user:
        argv.append(f"--user={user}")
    return [parse_squeue_line(line) for line in cli.run(argv).splitlines() if line.strip()]


def parse_squeue_line(line: str) -> SlurmJob:
    parts = line.rstrip().split("|", _FIELDS - 1)
    if len(parts) != _FIELDS:
        raise ParseError(f"squeue: expected {_FIELDS} fields, got {quote(line, 80)}")
    job_id, name, state, reason, status, nodes, text = (p.strip() for p in parts)
    if not re.fullmatch(r"[0-9]+(_[0-9]+)?", job_id):
        raise ParseError(f"squeue JobID: not a job id: {quote(job_id, 40)}")
    if not re.fullmatch(r"-?[0-9]{1,10}", status or "0"):
        raise ParseError(f"squeue exit_code of job {job_id}: not a number: {quote(status, 40)}")
    return SlurmJob(job_id, name, state.upper(), reason, int(status or 0), nodes, text)
