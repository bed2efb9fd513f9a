"""The cycle thread's pacing: woken by submits it keeps to its duty share of the wall time, and
the share is a setting read like every other."""

from __future__ import annotations

import threading
import time

import pytest

from scheduler.app import parse_args
from scheduler.config import ConfigError, load
from scheduler.service.cycle import CycleReport
from scheduler.service.cycle_runner import CycleRunner

BUSY_S = 0.2


class _SlowCycle:
    """Stands in for SchedulingCycle.run_once: busy for BUSY_S, recording when each began."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.done = threading.Event()

    def run_once(self) -> CycleReport:
        self.starts.append(time.monotonic())
        time.sleep(BUSY_S)
        if len(self.starts) >= 4:
            self.done.set()
        return CycleReport(0, 0, 0, 0, 0, 0, "EMPTY", 0.0, BUSY_S * 1000)


@pytest.mark.parametrize("duty", [0.5, 0.25])
def test_woken_cycles_rest_their_share_before_the_next(duty: float) -> None:
    """Under a constant stream of wake-ups, consecutive cycles begin at least took / duty
    apart (a lower bound: a loaded machine only makes the gaps longer)."""
    cycle = _SlowCycle()
    runner = CycleRunner(cycle, interval_s=30.0, max_duty=duty)  # type: ignore[arg-type]
    stop = threading.Event()

    def wake() -> None:
        while not stop.is_set():
            runner.trigger()
            time.sleep(0.005)

    waker = threading.Thread(target=wake, daemon=True)
    runner.start()
    waker.start()
    try:
        assert cycle.done.wait(30), "four cycles within 30 s"
    finally:
        stop.set()
        runner.stop()
    gaps = [b - a for a, b in zip(cycle.starts, cycle.starts[1:], strict=False)]
    assert min(gaps) >= BUSY_S / duty - 0.02, gaps


def test_a_duty_outside_zero_to_one_is_refused() -> None:
    """The runner refuses a share of 0 or more than 1 (1 itself: cycles back to back)."""
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="max_duty"):
            CycleRunner(_SlowCycle(), interval_s=1.0, max_duty=bad)  # type: ignore[arg-type]
    CycleRunner(_SlowCycle(), interval_s=1.0, max_duty=1.0)  # type: ignore[arg-type]


def test_the_duty_is_a_flag_and_setting_and_bounded() -> None:
    """`--cycle-max-duty` and SUANCHOU_CYCLE_MAX_DUTY reach the settings; above 1 or 0 is
    refused naming the key."""
    args = parse_args(["--cycle-max-duty", "0.8"])
    assert load(None, {"cycle_max_duty": args.cycle_max_duty}, {}).scheduler.cycle_max_duty == 0.8
    assert load(None, {}, {"SUANCHOU_CYCLE_MAX_DUTY": "0.3"}).scheduler.cycle_max_duty == 0.3
    assert load(None, {}, {}).scheduler.cycle_max_duty == 0.5
    with pytest.raises(ConfigError, match="cycle_max_duty: must be at most 1"):
        load(None, {"cycle_max_duty": 2}, {})
    with pytest.raises(ConfigError, match="cycle_max_duty: must be positive"):
        load(None, {"cycle_max_duty": 0}, {})
