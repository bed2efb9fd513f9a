"""The agent's durable memory of the runs it was given, so that none is ever started twice.

The scheduler re-sends every LEASED run an agent does not report. An agent that kept its runs
only in memory would, after kill -9 and a restart, start them again under the same run id. So
before a replica is spawned its `start` record is appended here and fsync'ed; later records say
how it ended (`finished`), that the scheduler asked to stop it (`cancelled`) and that the
scheduler recorded its end (`forgotten`, with the time, for run directory retention).

On startup every run found here is retired (never started again), and runs started but not
known to have ended are reported LOST: their replica died with the previous agent process
(PR_SET_PDEATHSIG), so nobody knows how far it got.

The file is JSON lines in the agent's private work directory, appended with single write()
calls; a torn last line (power loss) is skipped. When it has grown to a multiple of what it
describes, it is rewritten to a temporary file, fsync'ed and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from agents.executor import Failure, RunPhase, RunStatus

FILE_NAME = "journal.jsonl"
RESTART_LOST = "agent restarted; the replica's outcome is unknown"
# Compact once the file has this many lines more than the runs it describes need.
_COMPACT_SLACK = 1000
# A record is a few hundred bytes; a longer line was not written by this agent.
_MAX_LINE = 64 * 1024


@dataclass
class RunRecord:
    """What the journal knows of one run."""

    run_id: str
    job_id: str = ""
    started: bool = False
    cancelled: bool = False
    final: RunStatus | None = None
    forgotten_at: float | None = None  # wall clock time the scheduler acknowledged it


class Journal:
    """Append-only run records in `directory/journal.jsonl`; `records` mirrors the file."""

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = directory / FILE_NAME
        self._clock = clock
        self.records: dict[str, RunRecord] = {}
        self.skipped_lines = 0
        self._lines = 0
        self._fd = -1
        self._dirty = False  # appended since the last fsync

    def open(self) -> dict[str, RunRecord]:
        """Loads the file (creating it if missing) and opens it for appending."""
        if self.path.exists():
            with self.path.open("rb") as handle:
                for line in handle:
                    self._lines += 1
                    self._replay(line)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self.records

    def unfinished(self) -> list[str]:
        """Runs started but not known to have finished (nor acknowledged)."""
        return [
            r.run_id
            for r in self.records.values()
            if r.started and r.final is None and r.forgotten_at is None
        ]

    def unfinished_to_lost(self, keep: Collection[str] = ()) -> int:
        """After a restart: records every run started but not known finished as LOST (or
        CANCELLED if a stop had been asked for) with RESTART_LOST; returns how many.

        Its replica died with the previous agent process (PR_SET_PDEATHSIG); how far it got is
        unknown, so it is reported (and its job requeued), never started again. `keep` are runs
        the executor took over (a Slurm job outlives the agent): they are still live.
        """
        count = 0
        for run_id in self.unfinished():
            record = self.records[run_id]
            if run_id not in keep:
                phase = RunPhase.CANCELLED if record.cancelled else RunPhase.LOST
                self.finished(RunStatus(record.run_id, phase, None, RESTART_LOST))
                count += 1
        return count

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _replay(self, line: bytes) -> None:
        try:
            entry = json.loads(line) if len(line) <= _MAX_LINE else None
            if not isinstance(entry, dict):
                raise TypeError("not an object")
            op, run_id = entry["op"], entry["run"]
            if not isinstance(run_id, str) or not run_id:
                raise TypeError("run")
            record = self.records.setdefault(run_id, RunRecord(run_id))
            if op == "start":
                record.started, record.job_id = True, str(entry.get("job", ""))
            elif op == "cancelled":
                record.cancelled = True
            elif op == "finished":
                exit_code, failure = entry.get("exit_code"), entry.get("failure")
                record.final = RunStatus(
                    run_id,
                    RunPhase(entry["phase"]),
                    exit_code if isinstance(exit_code, int) else None,
                    str(entry.get("message", "")),
                    Failure(failure) if failure else None,
                )
            elif op == "forgotten":
                record.forgotten_at = float(entry["t"])
                self.records[run_id] = self.records.pop(run_id)  # keep acknowledgement order
            elif op == "pruned":
                del self.records[run_id]
        except (ValueError, TypeError, KeyError):
            self.skipped_lines += 1  # a torn or foreign line: what it said is lost, not more

    # -- appending ---------------------------------------------------------------------------

    def started(self, run_id: str, job_id: str) -> None:
        """Records that `run_id` is about to be spawned; call sync() BEFORE spawning it."""
        self._append({"op": "start", "run": run_id, "job": job_id})
        record = self.records.setdefault(run_id, RunRecord(run_id))
        record.started, record.job_id = True, job_id

    def cancelled(self, run_id: str) -> None:
        self._append({"op": "cancelled", "run": run_id})
        self.records.setdefault(run_id, RunRecord(run_id)).cancelled = True

    def finished(self, status: RunStatus) -> None:
        self._append(_finished(status))
        self.records.setdefault(status.run_id, RunRecord(status.run_id)).final = status

    def forgotten(self, run_id: str) -> None:
        """The scheduler acknowledged the run; its directory ages from now on."""
        record = self.records.get(run_id)
        if record is None or record.forgotten_at is not None:
            return  # never held, or already recorded: nothing to keep
        record.forgotten_at = self._clock()
        self.records[run_id] = self.records.pop(run_id)  # keep acknowledgement order
        self._append({"op": "forgotten", "run": run_id, "t": record.forgotten_at})

    def pruned(self, run_id: str) -> None:
        """The run's directory is gone: the journal need not remember it any longer."""
        if self.records.pop(run_id, None) is not None:
            self._append({"op": "pruned", "run": run_id})

    def forgotten_oldest_first(self) -> Iterator[RunRecord]:
        """Acknowledged runs, oldest acknowledgement first."""
        return (r for r in self.records.values() if r.forgotten_at is not None)

    def sync(self) -> None:
        """Makes every record appended so far durable."""
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def _append(self, entry: dict[str, object]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        data = line.encode()
        # One write() with O_APPEND: a kill -9 cannot leave half a record behind it.
        written = os.write(self._fd, data)
        if written != len(data):
            raise OSError(f"{self.path}: short write ({written} of {len(data)} bytes)")
        self._lines += 1
        self._dirty = True
        if self._lines > 2 * len(self.records) + _COMPACT_SLACK:
            self.compact()

    # -- compaction --------------------------------------------------------------------------

    def compact(self) -> None:
        """Rewrites the file with one or two lines per run it still describes, atomically."""
        temp = self.path.with_name(FILE_NAME + ".tmp")
        lines = [line for record in self.records.values() for line in _snapshot(record)]
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself must survive a crash
        finally:
            os.close(dir_fd)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._lines, self._dirty = len(lines), False


def _snapshot(record: RunRecord) -> list[str]:
    if record.forgotten_at is not None:  # retired for good; only its age still matters
        entry = {"op": "forgotten", "run": record.run_id, "t": record.forgotten_at}
        return [json.dumps(entry, separators=(",", ":")) + "\n"]
    entries: list[dict[str, object]] = []
    if record.started:
        entries.append({"op": "start", "run": record.run_id, "job": record.job_id})
    if record.cancelled:
        entries.append({"op": "cancelled", "run": record.run_id})
    if record.final is not None:
        entries.append(_finished(record.final))
    return [json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries]


def _finished(status: RunStatus) -> dict[str, object]:
    return {
        "op": "finished",
        "run": status.run_id,
        "phase": status.phase.value,
        "exit_code": status.exit_code,
        "message": status.message,
        "failure": status.failure.value if status.failure else None,
    }
