"""Enforcing a lease's resources on a local replica: cgroup v2 where possible, else rlimits.

- `cgroup`: /sys/fs/cgroup is cgroup2 and the agent may manage its own cgroup (it is root, or
  the cgroup is delegated to it, e.g. systemd `Delegate=yes`) and is alone in it. The agent
  moves itself into a leaf `agent/` (cgroup v2 lets only leaves hold processes once controllers
  are enabled for children), enables the memory and cpu controllers for children, and gives each
  run a sibling `run-<run id>/` with memory.max = the lease's memory, memory.swap.max = 0 and
  cpu.max = the lease's cpu. The trampoline joins it before exec. A replica over its memory is
  killed by the kernel (reported FAILED, "out of memory: ..." as memory.events counts it).
- `rlimit`: otherwise, on Linux, the trampoline sets RLIMIT_DATA (heap and private writable
  mappings: what a program allocates) to the lease's memory, without headroom. RLIMIT_AS is
  not used: runtimes reserve far more address space than they use, so it fails sane programs.
  An allocation beyond the limit fails (Python: MemoryError). CPU is not enforced this way.
- `none`: no mechanism (not Linux).

The agent's startup line `agent_configured` says which one is in force (`enforcement=`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import structlog

MIB = 1024 * 1024
# cpu.max period: quota = millicores * period / 1000.
_CPU_PERIOD_US = 100_000

log = structlog.get_logger("suanchou.agent")


class Limits:
    """No enforcement; the base of the two mechanisms."""

    mechanism = "none"

    def setup(self, run_id: str, resources: Mapping[str, int]) -> dict[str, object]:
        """The trampoline's part (see agents.trampoline) for a run about to be spawned."""
        return {}

    def release(self, run_id: str) -> None:
        """Called once the run's processes are gone."""

    def oom_killed(self, run_id: str) -> bool:
        """Whether the kernel killed a process of the run for its memory limit (asked before
        `release`); False where the mechanism cannot tell."""
        return False


class RlimitLimits(Limits):
    mechanism = "rlimit"

    def setup(self, run_id: str, resources: Mapping[str, int]) -> dict[str, object]:
        memory = resources.get("memory", 0)
        if memory <= 0:
            return {}
        return {"rlimits": {"RLIMIT_DATA": memory * MIB}}


class CgroupLimits(Limits):
    mechanism = "cgroup"

    def __init__(self, parent: Path, controllers: frozenset[str]) -> None:
        self.parent = parent
        self._controllers = controllers
        self._stale: set[Path] = set()  # run cgroups whose removal must be retried

    def setup(self, run_id: str, resources: Mapping[str, int]) -> dict[str, object]:
        group = self.parent / f"run-{run_id}"
        group.mkdir(exist_ok=True)
        memory, cpu = resources.get("memory", 0), resources.get("cpu", 0)
        if memory > 0 and "memory" in self._controllers:
            (group / "memory.max").write_text(str(memory * MIB))
            swap = group / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        if cpu > 0 and "cpu" in self._controllers:
            (group / "cpu.max").write_text(f"{cpu * _CPU_PERIOD_US // 1000} {_CPU_PERIOD_US}")
        return {"cgroup_procs": str(group / "cgroup.procs")}

    def oom_killed(self, run_id: str) -> bool:
        """memory.events counts the OOM kills inside the run's cgroup."""
        try:
            events = (self.parent / f"run-{run_id}" / "memory.events").read_text()
        except OSError:
            return False
        counts = dict(line.split(maxsplit=1) for line in events.splitlines() if " " in line)
        return counts.get("oom_kill", "0").strip() not in ("", "0")

    def release(self, run_id: str) -> None:
        self._stale.add(self.parent / f"run-{run_id}")
        for group in list(self._stale):
            try:
                group.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                continue  # leftover processes still dying (EBUSY): retried at the next release
            self._stale.discard(group)


def detect(
    root: Path = Path("/sys/fs/cgroup"),
    mounts: Path = Path("/proc/self/mounts"),
    own_cgroup: Path = Path("/proc/self/cgroup"),
) -> Limits:
    """The strongest mechanism this machine allows the agent (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        return Limits()
    try:
        cgroups = _delegated_cgroup(root, mounts, own_cgroup)
    except OSError as exc:
        log.info("cgroup_unavailable", reason=str(exc)[:200])
        cgroups = None
    return cgroups if cgroups is not None else RlimitLimits()


def _delegated_cgroup(root: Path, mounts: Path, own_cgroup: Path) -> CgroupLimits | None:
    if not any(
        len(fields) > 2 and fields[1] == str(root) and fields[2] == "cgroup2"
        for fields in (line.split() for line in mounts.read_text().splitlines())
    ):
        return None
    relative = next(
        (line[3:] for line in own_cgroup.read_text().splitlines() if line.startswith("0::")),
        None,
    )
    if relative is None:
        return None
    base = root / relative.strip().lstrip("/")
    if not os.access(base, os.W_OK):
        return None
    controllers = frozenset((base / "cgroup.controllers").read_text().split()) & {"memory", "cpu"}
    if "memory" not in controllers:
        return None
    pid = str(os.getpid())
    procs = (base / "cgroup.procs").read_text().split()
    if relative.strip() != "/" and procs != [pid]:
        return None  # other processes share the cgroup: moving them is not ours to do
    if relative.strip() != "/":
        leaf = base / "agent"
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(pid)
    (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(controllers)))
    limits = CgroupLimits(base, controllers)
    for stale in base.glob("run-*"):  # runs of an earlier agent process; their replicas died
        with contextlib.suppress(OSError):
            stale.rmdir()
    return limits
