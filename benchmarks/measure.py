"""Wall time, peak memory, process isolation and the machine a run was measured on.

Peak memory is the resident-set high-water mark. tracemalloc would see only Python objects and
slows large runs several-fold, so we read the kernel's counters instead. Each instance runs in a
fresh spawned process (`run_isolated`): one instance's garbage never inflates the next one's
peak. Within it, `measured()` resets the mark (Linux /proc/self/clear_refs) so a phase's peak is
its own; the mark still includes the interpreter and whatever the phase found resident.

We read VmHWM from /proc/self/status rather than getrusage's ru_maxrss: on Linux ru_maxrss
survives exec, so a child spawned from a large parent would report the parent's peak.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MIB = 1 << 20
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_bytes() -> int:
    """This process's resident-set high-water mark (since start or the last reset)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Not Linux: ru_maxrss is KiB on Linux and BSD, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# The process's own peak across resets: each reset folds the mark it discards in here.
_process_peak = 0


def process_peak_bytes() -> int:
    """This process's resident-set high-water mark since it started, across phase resets."""
    return max(_process_peak, peak_rss_bytes())


def reset_peak() -> bool:
    """Restarts the high-water mark at the current resident size; False where unsupported."""
    global _process_peak
    _process_peak = process_peak_bytes()
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Measurement:
    """Filled in when the `measured()` block ends."""

    seconds: float = 0.0
    peak_bytes: int = 0
    peak_is_phase: bool = False  # False: the mark could not be reset, so it is the process's

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB


@contextmanager
def measured() -> Iterator[Measurement]:
    """Wall time and peak resident memory of the block."""
    m = Measurement(peak_is_phase=reset_peak())
    started = time.perf_counter()
    try:
        yield m
    finally:
        m.seconds = time.perf_counter() - started
        m.peak_bytes = peak_rss_bytes()


class IsolatedError(RuntimeError):
    """The isolated call raised, crashed or ran out of time; the message says which."""


def _child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException:  # everything, so the parent learns what happened
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _exit_code(process: multiprocessing.process.BaseProcess) -> int | None:
    """Waits briefly for the child to end (it does right after sending), then kills it."""
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()
    return process.exitcode


def run_isolated(fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
    """fn(*args) in a fresh interpreter (spawn, not fork: no memory or state inherited).

    `fn` must be importable by name and its arguments and result picklable. Raises
    IsolatedError with the child's traceback, its exit code, or the timeout.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, fn, args), daemon=True)
    process.start()
    sender.close()  # so that recv() sees EOF if the child dies without sending
    try:
        if not receiver.poll(timeout_s):
            process.kill()  # hung: no reason to wait any longer
            raise IsolatedError(f"no result within {timeout_s:.0f} s")
        kind, payload = receiver.recv()
    except EOFError:
        raise IsolatedError(f"process died (exit code {_exit_code(process)})") from None
    finally:
        receiver.close()
        _exit_code(process)
    if kind != "ok":
        raise IsolatedError(str(payload))
    result: T = payload
    return result


# -- the machine ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / (1 << 20):.1f}"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    """Commit of the working tree, '+dirty' when the code under measurement differs from it
    (changed or untracked files in the packages a benchmark runs)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "scheduler", "benchmarks"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def machine_info() -> dict[str, str]:
    """What a result was measured on: hardware, interpreter and library versions."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": str(usable),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "ortools": _version("ortools"),
        "suanchou": _version("suanchou"),
        "git_commit": _git_commit(),
        # Timings on a shared machine mean little without the load they were taken under.
        "load_avg_1m": f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown",
    }
