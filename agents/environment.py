"""What a replica's environment is made of: nothing of the agent's beyond a short allow-list.

The agent's environment may hold secrets it was started with (its own token, an admin's
`SUANCHOU_ADMIN_TOKEN`, a department's `SUANCHOU_TOKEN`, cloud credentials) and none of them
is the job's business, so nothing is inherited by default. A replica gets exactly:

- `PASSTHROUGH` variables copied from the agent's environment when set there (PATH, LANG,
  LC_ALL, TZ: what a program needs to find binaries and format text the way the host does);
- HOME, set to the run directory (the replica's working directory);
- the lease's `env` (the job spec's environment), which may override the two above;
- SUANCHOU_JOB_ID, SUANCHOU_RUN_ID, SUANCHOU_REPLICA and SUANCHOU_REPLICAS, set last so a job
  cannot fake them;
- for a lease with device ids (RunLease.devices), CUDA_VISIBLE_DEVICES (nvidia.com/gpu) or
  ASCEND_RT_VISIBLE_DEVICES (huawei.com/ascend) listing them, also set over the job's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")
RUN_VARIABLES = ("SUANCHOU_JOB_ID", "SUANCHOU_RUN_ID", "SUANCHOU_REPLICA", "SUANCHOU_REPLICAS")
# The variable each device resource's runtime reads to find its devices, in the order the
# scheduler picks the packed resource (scheduler.domain.resources.device_resource).
DEVICE_VARIABLES = {
    "nvidia.com/gpu": "CUDA_VISIBLE_DEVICES",
    "huawei.com/ascend": "ASCEND_RT_VISIBLE_DEVICES",
}


def device_env(demands: Iterable[str], devices: Sequence[int]) -> dict[str, str]:
    """{VARIABLE: "0,1"} for the device resource among `demands` (the lease's resource names),
    empty without devices."""
    names = set(demands)
    for name, variable in DEVICE_VARIABLES.items():
        if name in names and devices:
            return {variable: ",".join(str(d) for d in devices)}
    return {}


def replica_env(
    agent_env: Mapping[str, str],
    lease_env: Mapping[str, str],
    run_dir: Path,
    *,
    job_id: str,
    run_id: str,
    replica: int,
    replicas: int,
    devices: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of one replica (see the module docstring)."""
    env = {name: agent_env[name] for name in PASSTHROUGH if name in agent_env}
    env["HOME"] = str(run_dir)
    env.update(lease_env)
    env.update(
        SUANCHOU_JOB_ID=job_id,
        SUANCHOU_RUN_ID=run_id,
        SUANCHOU_REPLICA=str(replica),
        SUANCHOU_REPLICAS=str(replicas),
    )
    env.update(devices or {})
    return env
