"""Resource enforcement for local replicas (cgroup v2 where allowed, rlimits otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent_helpers import TOKEN, Server, python_cmd, run_state

from agents.limits import MIB, CgroupLimits, RlimitLimits, detect
from protos.suanchou.v1 import types_pb2

REPO = Path(__file__).resolve().parents[2]
ALLOCATE = "b = bytearray({mib} * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('ok')"


def final_state(scheduler: Server, run_id: str) -> types_pb2.RunState.ValueType:
    def ended(request: object) -> bool:
        report = run_state(request, run_id)  # type: ignore[arg-type]
        return report is not None and report.state in (
            types_pb2.RUN_STATE_SUCCEEDED,
            types_pb2.RUN_STATE_FAILED,
        )

    report = run_state(scheduler.servicer.wait_for(ended, timeout=30), run_id)
    assert report is not None
    return report.state


def test_replica_over_its_memory_does_not_succeed(scheduler: Server, tmp_path: Path) -> None:
    """A replica leased 64 MiB that allocates 512 MiB ends FAILED (killed or MemoryError) while
    one allocating 16 MiB succeeds; the agent's startup line names the mechanism."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SUANCHOU_AGENT_TOKEN": TOKEN}
    args = ["--scheduler", scheduler.target, "--workdir", str(tmp_path / "work")]
    small = {"resources": types_pb2.Resources(quantities={"cpu": 500, "memory": 64})}
    scheduler.servicer.ack = False  # finished runs stay in every Sync: none is missed
    scheduler.servicer.lease("greedy", python_cmd(ALLOCATE.format(mib=512)), **small)
    scheduler.servicer.lease("modest", python_cmd(ALLOCATE.format(mib=16)), **small)
    with (tmp_path / "agent.log").open("wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agents", *args, "--interval", "0.05"],
            env=env,
            cwd=tmp_path,
            stderr=log,
        )
    try:
        assert final_state(scheduler, "greedy") == types_pb2.RUN_STATE_FAILED
        assert final_state(scheduler, "modest") == types_pb2.RUN_STATE_SUCCEEDED
    finally:
        agent.kill()
        agent.wait(timeout=10)
    configured = next(
        json.loads(line)
        for line in (tmp_path / "agent.log").read_text().splitlines()
        if '"agent_configured"' in line
    )
    assert configured["enforcement"] in ("cgroup", "rlimit")
    assert configured["enforcement"] == detect_here()


def detect_here() -> str:
    """What this machine allows, asked in a child so the test process stays in its cgroup."""
    code = "from agents.limits import detect; print(detect().mechanism)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    return out.stdout.decode().strip()


def test_without_cgroup2_the_fallback_is_rlimit_data(tmp_path: Path) -> None:
    """A cgroup v1 (or no cgroup2) mount table falls back to RLIMIT_DATA of the lease memory."""
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw 0 0\n"
    )
    limits = detect(tmp_path / "cg", mounts, tmp_path / "none")
    assert isinstance(limits, RlimitLimits)
    assert limits.setup("r1", {"memory": 64, "cpu": 500}) == {"rlimits": {"RLIMIT_DATA": 64 * MIB}}
    assert limits.setup("r2", {"cpu": 500}) == {}


def test_delegated_cgroup2_gets_one_cgroup_per_run(tmp_path: Path) -> None:
    """With a writable cgroup2 directory holding only the agent, the agent moves into a leaf,
    enables memory and cpu for children and writes each run's memory.max and cpu.max.
    (A directory tree stands in for cgroupfs: this machine may not offer cgroup v2.)"""
    root = tmp_path / "cgroup"
    base = root / "system.slice" / "agent.service"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (base / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (tmp_path / "mounts").write_text(f"cgroup2 {root} cgroup2 rw 0 0\n")
    (tmp_path / "self").write_text("0::/system.slice/agent.service\n")
    (base / "run-stale").mkdir()  # left by an earlier agent process
    limits = detect(root, tmp_path / "mounts", tmp_path / "self")
    assert isinstance(limits, CgroupLimits) and limits.mechanism == "cgroup"
    assert (base / "agent" / "cgroup.procs").read_text() == str(os.getpid())
    assert (base / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert not (base / "run-stale").exists()
    setup = limits.setup("r1", {"memory": 64, "cpu": 1500})
    group = base / "run-r1"
    assert setup == {"cgroup_procs": str(group / "cgroup.procs")}
    assert (group / "memory.max").read_text() == str(64 * MIB)
    assert (group / "cpu.max").read_text() == "150000 100000"
    assert not limits.oom_killed("r1")
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert limits.oom_killed("r1")  # what a local run's OOM failure is told apart by
    limits.release("r1")  # cgroupfs would remove it; plain files keep it here: no error either


def test_cgroup_shared_with_other_processes_is_left_alone(tmp_path: Path) -> None:
    """If other processes share the agent's cgroup, the agent does not move them: rlimits."""
    root = tmp_path / "cgroup"
    base = root / "user.slice"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu memory\n")
    (base / "cgroup.procs").write_text(f"1\n{os.getpid()}\n")
    (tmp_path / "mounts").write_text(f"cgroup2 {root} cgroup2 rw 0 0\n")
    (tmp_path / "self").write_text("0::/user.slice\n")
    assert isinstance(detect(root, tmp_path / "mounts", tmp_path / "self"), RlimitLimits)
    assert not (base / "agent").exists()
