"""Measurement helpers: isolated calls, phase peak memory, machine description."""

from __future__ import annotations

import os
import time

import pytest

from benchmarks.measure import (
    MIB,
    IsolatedError,
    machine_info,
    measured,
    process_peak_bytes,
    run_isolated,
)


def test_isolated_call_returns_the_result() -> None:
    """A function run in a fresh process hands back its return value."""
    assert run_isolated(pow, 2, 10, timeout_s=60) == 1024


def test_isolated_exception_carries_the_child_traceback() -> None:
    """An exception in the child becomes IsolatedError with the child's traceback."""
    with pytest.raises(IsolatedError, match="ValueError: invalid literal"):
        run_isolated(int, "not a number", timeout_s=60)


def test_isolated_crash_reports_the_exit_code() -> None:
    """A child that dies without answering is reported with its exit code."""
    with pytest.raises(IsolatedError, match=r"exit code 3"):
        run_isolated(os._exit, 3, timeout_s=60)


def test_isolated_hang_is_cut_off_at_the_timeout() -> None:
    """A child that takes too long is stopped and reported as a timeout."""
    started = time.monotonic()
    with pytest.raises(IsolatedError, match="no result within"):
        run_isolated(time.sleep, 60, timeout_s=2)
    assert time.monotonic() - started < 30


def test_measured_peak_is_the_phase_peak() -> None:
    """A block that touches 128 MiB shows it in its peak; a later, idle block does not."""
    with measured() as busy:
        block = bytearray(128 * MIB)
        block[::4096] = b"\x01" * len(block[::4096])
        del block
    with measured() as idle:
        pass
    assert busy.seconds > 0 and busy.peak_mib >= 128
    if idle.peak_is_phase:  # the mark can be reset (Linux)
        assert idle.peak_mib < busy.peak_mib - 100
    assert process_peak_bytes() >= busy.peak_bytes  # the process peak survives the reset


def test_machine_info_names_cores_cpu_and_versions() -> None:
    """The machine description has the keys every result file records."""
    info = machine_info()
    assert int(info["cores"]) >= 1
    for key in ("cpu_model", "python", "ortools", "suanchou", "git_commit", "memory_gib"):
        assert info[key]
