"""Run directory retention: the output of acknowledged runs is kept for a while, then deleted.

A run's directory (stdout.log, stderr.log, whatever the job wrote) is kept while the run is held
and for `retention` seconds after the scheduler acknowledged its end (the `forgotten` time in
the journal, so the age survives restarts). Checks run at startup and then at most once per
`check_interval`; each deletes at most `max_per_check` directories, oldest first, so one check
never stalls the sync loop. Once deleted, the run leaves the journal too.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from agents.executor import RUN_ID_PATTERN
from agents.journal import Journal

DEFAULT_RETENTION = 7 * 24 * 3600.0
# Beyond this many remembered runs the oldest directories go early: memory and the journal
# stay bounded on an agent that runs many short jobs.
MAX_REMEMBERED = 200_000

log = structlog.get_logger("suanchou.agent")


class RunRetention:
    def __init__(
        self,
        journal: Journal,
        workdir: Path,
        retention: float = DEFAULT_RETENTION,
        *,
        clock: Callable[[], float] = time.time,
        check_interval: float = 60.0,
        max_per_check: int = 100,
    ) -> None:
        self._journal = journal
        self._workdir = workdir
        self._retention = retention
        self._clock = clock
        self._check_interval = check_interval
        self._max_per_check = max_per_check
        self._last_check: float | None = None

    def maybe_prune(self) -> int:
        """Prunes if no check ran within the interval (or none ran yet); the number deleted."""
        now = self._clock()
        if self._last_check is not None and 0 <= now - self._last_check < self._check_interval:
            return 0
        self._last_check = now
        return self.prune(now)

    def prune(self, now: float) -> int:
        cutoff = now - self._retention
        excess = len(self._journal.records) - MAX_REMEMBERED
        expired: list[str] = []
        for record in self._journal.forgotten_oldest_first():
            if len(expired) >= self._max_per_check:
                break
            if (record.forgotten_at or 0.0) > cutoff and len(expired) >= excess:
                break
            expired.append(record.run_id)
        for run_id in expired:
            # Ids come from the scheduler: only a safe name can be a directory of ours.
            if RUN_ID_PATTERN.match(run_id):
                shutil.rmtree(self._workdir / run_id, ignore_errors=True)
            self._journal.pruned(run_id)
        if expired:
            log.info("run_dirs_pruned", count=len(expired), retention_seconds=self._retention)
        return len(expired)
