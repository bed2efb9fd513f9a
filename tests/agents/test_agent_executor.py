"""LocalExecutor with real child processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from agent_helpers import pid_gone, python_cmd, wait_until

from agents.executor import Failure, Lease, LocalExecutor, RunPhase, RunStatus


class FakeClock:
    """Monotonic time the test moves by hand, so max runtime needs no real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lease(run_id: str, command: list[str], **fields: object) -> Lease:
    return Lease(run_id=run_id, job_id=f"job-{run_id}", command=command, **fields)  # type: ignore[arg-type]


def finish(executor: LocalExecutor, run_id: str, timeout: float = 10.0) -> RunStatus:
    """Polls until `run_id` is reported finished and returns that status."""
    done: list[RunStatus] = []

    def finished() -> bool:
        done.extend(s for s in executor.poll() if s.run_id == run_id and s.phase.finished)
        return bool(done)

    wait_until(finished, timeout, f"{run_id} to finish")
    return done[0]


def wait_for_file(path: Path) -> str:
    wait_until(lambda: path.exists() and path.read_text().endswith("\n"), what=str(path))
    return path.read_text()


def test_success_is_reported_once_with_output_captured(tmp_path: Path) -> None:
    """A command exiting 0 is SUCCEEDED with exit code 0, stdout/stderr in the run directory."""
    executor = LocalExecutor(tmp_path)
    code = "import sys; print('hello', flush=True); print('oops', file=sys.stderr)"
    executor.start(lease("r1", python_cmd(code)))
    assert finish(executor, "r1") == RunStatus("r1", RunPhase.SUCCEEDED, 0, "")
    assert (tmp_path / "r1" / "stdout.log").read_text() == "hello\n"
    assert (tmp_path / "r1" / "stderr.log").read_text() == "oops\n"
    assert executor.poll() == []  # reported once, then forgotten


def test_running_then_failed_with_exit_code(tmp_path: Path) -> None:
    """A live run polls as RUNNING; a non-zero exit is FAILED with that exit code."""
    executor = LocalExecutor(tmp_path)
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\nsys.exit(3)"
    )
    executor.start(lease("r1", python_cmd(code)))
    assert executor.poll() == [RunStatus("r1", RunPhase.RUNNING)]
    go.touch()
    assert finish(executor, "r1") == RunStatus("r1", RunPhase.FAILED, 3, "")


def test_environment_and_working_directory(tmp_path: Path) -> None:
    """The child gets only the allow-list, HOME, the lease env and SUANCHOU_*, in its run dir."""
    base = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "KEEP": "1",
        "SUANCHOU_AGENT_TOKEN": "secret",
        "SUANCHOU_ADMIN_TOKEN": "admin-secret",
    }
    executor = LocalExecutor(tmp_path, base_env=base)
    # /proc/self/environ is what exec received; os.environ may gain Python's own LC_CTYPE.
    code = (
        "import json, os\n"
        "raw = open('/proc/self/environ', 'rb').read().split(b'\\0')\n"
        "env = dict(v.decode().split('=', 1) for v in raw if v)\n"
        "print(json.dumps({'cwd': os.getcwd(), 'env': env}))"
    )
    executor.start(lease("r1", python_cmd(code), replica=2, replicas=4, env={"MODEL": "qwen"}))
    assert finish(executor, "r1").phase is RunPhase.SUCCEEDED
    seen = json.loads((tmp_path / "r1" / "stdout.log").read_text())
    run_dir = (tmp_path / "r1").resolve()
    assert Path(seen["cwd"]) == run_dir
    assert seen["env"] == {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(run_dir),
        "MODEL": "qwen",
        "SUANCHOU_JOB_ID": "job-r1",
        "SUANCHOU_RUN_ID": "r1",
        "SUANCHOU_REPLICA": "2",
        "SUANCHOU_REPLICAS": "4",
    }


def test_max_runtime_kills_and_reports_failed(tmp_path: Path) -> None:
    """Past max_runtime_seconds the group gets SIGTERM and the run is FAILED with the reason."""
    clock = FakeClock()
    executor = LocalExecutor(tmp_path, clock=clock)
    executor.start(lease("r1", python_cmd("import time; time.sleep(60)"), max_runtime_seconds=30))
    clock.now += 29
    assert executor.poll() == [RunStatus("r1", RunPhase.RUNNING)]
    clock.now += 1
    status = finish(executor, "r1")
    assert status == RunStatus(
        "r1", RunPhase.FAILED, 128 + signal.SIGTERM, "max runtime 30s exceeded", Failure.TIMEOUT
    )


def test_max_runtime_escalates_to_sigkill_after_grace(tmp_path: Path) -> None:
    """A replica that ignores SIGTERM is killed with SIGKILL once the grace period has passed."""
    clock = FakeClock()
    executor = LocalExecutor(tmp_path, clock=clock, kill_grace=5)
    ready = tmp_path / "ready"
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').write('ok\\n')\ntime.sleep(60)"
    )
    executor.start(lease("r1", python_cmd(code), max_runtime_seconds=1))
    wait_for_file(ready)
    clock.now += 1
    assert executor.poll() == [RunStatus("r1", RunPhase.RUNNING)]  # SIGTERM sent, ignored
    assert executor.poll() == [RunStatus("r1", RunPhase.RUNNING)]
    clock.now += 5
    status = finish(executor, "r1")
    assert status == RunStatus(
        "r1", RunPhase.FAILED, 128 + signal.SIGKILL, "max runtime 1s exceeded", Failure.TIMEOUT
    )


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Cancel stops the replica and its descendants, even one that ignores SIGTERM."""
    executor = LocalExecutor(tmp_path, kill_grace=5)
    pids = tmp_path / "pids"
    grandchild = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    )
    code = (
        "import subprocess, sys, os, time\n"
        f"g = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "time.sleep(0.2)\n"  # let the grandchild install its handler before reporting ready
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{g.pid}}\\n')\n"
        "time.sleep(60)"
    )
    executor.start(lease("r1", python_cmd(code)))
    child, grandchild_pid = map(int, wait_for_file(pids).split())
    executor.cancel("r1")
    status = finish(executor, "r1", timeout=5)
    assert status == RunStatus("r1", RunPhase.CANCELLED, 128 + signal.SIGTERM, "cancelled")
    assert pid_gone(child)
    wait_until(lambda: pid_gone(grandchild_pid), timeout=5, what="grandchild to die")


def test_spawn_failures_are_reported_failed(tmp_path: Path) -> None:
    """A missing program is FAILED 127, a non-executable one 126, with the error in the message."""
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    executor = LocalExecutor(tmp_path)
    executor.start(lease("missing", ["/nonexistent/program", "arg"]))
    executor.start(lease("noexec", [str(script)]))
    executor.start(lease("empty", []))
    by_id = {s.run_id: s for s in executor.poll()}
    assert by_id["missing"].phase is RunPhase.FAILED and by_id["missing"].exit_code == 127
    assert "spawn failed" in by_id["missing"].message
    assert "/nonexistent/program" in by_id["missing"].message
    assert (by_id["noexec"].phase, by_id["noexec"].exit_code) == (RunPhase.FAILED, 126)
    assert "Permission denied" in by_id["noexec"].message
    assert (by_id["empty"].phase, by_id["empty"].exit_code) == (RunPhase.FAILED, 127)
    assert executor.poll() == []


def test_unsafe_run_id_never_escapes_the_workdir(tmp_path: Path) -> None:
    """A run id that is not a plain directory name is refused instead of creating paths outside."""
    executor = LocalExecutor(tmp_path / "work")
    executor.start(lease("../escape", python_cmd("pass")))
    (status,) = executor.poll()
    assert (status.phase, status.exit_code) == (RunPhase.FAILED, 126)
    assert not (tmp_path / "escape").exists()


def test_duplicate_start_is_ignored(tmp_path: Path) -> None:
    """Starting a run id the executor already holds does not start a second process."""
    executor = LocalExecutor(tmp_path)
    marker = tmp_path / "starts"
    code = f"open({str(marker)!r}, 'a').write('x\\n')"
    executor.start(lease("r1", python_cmd(code)))
    executor.start(lease("r1", python_cmd(code)))
    assert finish(executor, "r1").phase is RunPhase.SUCCEEDED
    assert marker.read_text() == "x\n"


def test_shutdown_stops_every_run(tmp_path: Path) -> None:
    """shutdown() stops all live runs and returns their final (CANCELLED) statuses."""
    executor = LocalExecutor(tmp_path, kill_grace=2)
    for run_id in ("a", "b"):
        executor.start(lease(run_id, python_cmd("import time; time.sleep(60)")))
    statuses = executor.shutdown()
    assert sorted(s.run_id for s in statuses) == ["a", "b"]
    assert all(s.phase is RunPhase.CANCELLED and s.message == "agent shut down" for s in statuses)
    assert executor.poll() == []


def test_leased_devices_are_the_replicas_visible_devices(tmp_path: Path) -> None:
    """A lease with device ids sets CUDA_VISIBLE_DEVICES (nvidia.com/gpu, over the job's own
    value) or ASCEND_RT_VISIBLE_DEVICES (huawei.com/ascend); a lease without devices sets
    neither."""
    executor = LocalExecutor(tmp_path, base_env={"PATH": os.environ["PATH"]})
    code = (
        "import os\n"
        "print(os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('ASCEND_RT_VISIBLE_DEVICES'))"
    )
    leases = {
        "share": lease(
            "share", python_cmd(code), env={"CUDA_VISIBLE_DEVICES": "7"},
            shares={"nvidia.com/gpu": 250}, devices=(1,),
        ),
        "whole": lease("whole", python_cmd(code), resources={"nvidia.com/gpu": 2}, devices=(0, 2)),
        "npu": lease("npu", python_cmd(code), resources={"huawei.com/ascend": 1}, devices=(3,)),
        "cpu": lease("cpu", python_cmd(code), resources={"cpu": 500}),
    }  # fmt: skip
    seen = {}
    for run_id, item in leases.items():
        executor.start(item)
        assert finish(executor, run_id).phase is RunPhase.SUCCEEDED
        seen[run_id] = (tmp_path / run_id / "stdout.log").read_text().strip()
    assert seen == {"share": "1 None", "whole": "0,2 None", "npu": "None 3", "cpu": "None None"}
