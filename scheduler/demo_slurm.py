"""The demo's optional fourth cluster: the machine's real Slurm, when one answers.

`suanchou demo` asks `sinfo` (with a short timeout: a stopped slurmctld makes it retry for
minutes) for Slurm's default partition. When there is one, the demo registers `slurm-hpc`, runs
an agent with `--executor slurm` for it, and submits one more job that only it can take; when
there is none, it says why in one line and runs without it.
"""

from __future__ import annotations

import shutil
import subprocess

from protos.suanchou.v1 import admin_pb2, types_pb2

NAME = "slurm-hpc"
PROBE_TIMEOUT_S = 3.0
# The label the Slurm capacity source puts on every node it offers (agents/slurm/capacity.py;
# scheduler code may not import the agent). No other demo cluster has it, so a job that selects
# it can only land on Slurm.
PARTITION_LABEL = "slurm.partition"

# A city HPC centre: 等保 2, dearer than the general cloud (CPU and GPU), so the demo's jobs
# without constraints keep going to gov-cloud and its GPU jobs to gpu-hz.
SPEC = admin_pb2.ClusterSpec(
    name=NAME,
    region="hangzhou",
    zone="hz-hpc",
    provider="超算中心 (Slurm)",
    security_level=2,
    price={"cpu": 0.1, "memory": 0.025, "nvidia.com/gpu": 12.0},
)


def probe(sinfo: str = "sinfo") -> tuple[str | None, str]:
    """Slurm's default partition when it is up and `sinfo` answers quickly; else None and why."""
    if shutil.which(sinfo) is None:
        return None, f"{sinfo} is not on PATH"
    try:
        proc = subprocess.run(
            [sinfo, "--noheader", "--format=%P %a"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"{sinfo} did not answer within {PROBE_TIMEOUT_S:g}s (slurmctld down?)"
    except OSError as exc:
        return None, f"{sinfo} could not run: {str(exc)[:80]}"
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or [""])[0]
        return None, f"{sinfo} exited {proc.returncode}: {first[:80]}"
    for line in proc.stdout.splitlines():
        fields = line.split()
        # Slurm marks the default partition with a trailing '*'.
        if len(fields) == 2 and fields[0].endswith("*") and fields[1] == "up":
            return fields[0][:-1], ""
    return None, "Slurm has no default partition that is up"


def agent_args(partition: str) -> list[str]:
    """The agent's executor arguments (the common ones are the demo's)."""
    return ["--executor", "slurm", "--partition", partition]


def job(spec: types_pb2.JobSpec, partition: str) -> types_pb2.JobSpec:
    """`spec` steered to the Slurm cluster by a node selector on the partition label."""
    steered = types_pb2.JobSpec()
    steered.CopyFrom(spec)
    steered.constraints.node_selector[PARTITION_LABEL] = partition
    return steered
