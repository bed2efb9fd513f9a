"""The thread that runs the scheduling cycle: every interval, and soon after a submit wakes it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import structlog

from scheduler.service.cycle import CycleReport, SchedulingCycle
from scheduler.service.leadership import Deposed

log = structlog.get_logger("suanchou.cycle")


class CycleRunner:
    """Runs the cycle every interval, and soon after `trigger()` (called on submit).

    Runs only while `may_run()` says this process leads (service.leadership). Every log line
    of cycle N, the solver's included, carries `cycle=N` (bound in structlog's contextvars for
    the cycle's duration). `on_cycle` is told each report, `on_error` each failure (metrics).

    Woken by submits, cycles would run back to back under a steady stream of them, and in one
    Python process the cycle then takes the interpreter from the RPC threads that feed it
    (issue 11's unary profile: the server at one core, most of it cycles over a queue that
    did not change what could run). So after a cycle of d seconds, a woken cycle waits until
    it would have used at most `max_duty` of the time since the last one began: d x (1/duty -
    1) more, never beyond the interval. Slurm's `sched_min_interval` limits its event-driven
    main loop the same way.
    """

    def __init__(
        self,
        cycle: SchedulingCycle,
        interval_s: float,
        on_error: Callable[[BaseException], None] | None = None,
        on_cycle: Callable[[CycleReport], None] | None = None,
        may_run: Callable[[], bool] = lambda: True,
        max_duty: float = 0.5,
    ) -> None:
        if not 0 < max_duty <= 1:
            raise ValueError(f"max_duty must be in (0, 1], got {max_duty}")
        self._cycle = cycle
        self._interval = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduling-cycle", daemon=True)
        self._on_error = on_error
        self._on_cycle = on_cycle
        self._may_run = may_run
        self._rest = 1 / max_duty - 1
        self.cycles = 0

    def start(self) -> None:
        self._thread.start()

    def trigger(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._may_run():
                self._wake.wait(self._interval)
                self._wake.clear()
                continue
            began = time.monotonic()
            with structlog.contextvars.bound_contextvars(cycle=self.cycles + 1):
                try:
                    report = self._cycle.run_once()
                    if self._on_cycle is not None:
                        self._on_cycle(report)
                except Deposed as exc:
                    # Rolled back by the fence: another replica leads now (not a failure).
                    log.warning("cycle_fenced", error=str(exc))
                except Exception as exc:  # a bad cycle must not stop scheduling for good
                    log.exception("cycle_failed", error=str(exc), cycle_id=str(uuid.uuid4()))
                    if self._on_error is not None:
                        self._on_error(exc)
            self.cycles += 1
            took = time.monotonic() - began
            if self._wake.wait(self._interval):
                # Woken early: rest the cycle's share first (stop() still ends it at once).
                rest = min(took * self._rest, self._interval) - (time.monotonic() - began - took)
                if rest > 0:
                    self._stop.wait(rest)
            self._wake.clear()
