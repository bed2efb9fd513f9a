"""Progress while a benchmark runs: a bar redrawn in place when stderr is a terminal, one plain
line per finished instance otherwise (CI logs, pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from benchmarks.report import Row

BAR_WIDTH = 24


def _describe(row: Row) -> str:
    state = "FAILED" if row.failures else "ok"
    parts = (
        [f"{row.track} {row.instance}", row.mode]
        if row.mode != "cold"
        else [f"{row.track} {row.instance}"]
    )
    if row.track_objective is not None:
        parts.append(f"objective {row.track_objective:g}")
        if row.gap_pct is not None:
            parts.append(f"gap {row.gap_pct:.3f}%")
    elif row.pct_of_bound is not None:
        parts.append(f"{row.pct_of_bound:.3f}% of bound")
    if row.engine_s is not None:
        parts.append(f"{row.engine_s:.2f} s")
    return f"{state}: " + ", ".join(parts)


class Progress:
    """Call with each finished row; `total` is the number of rows expected (may grow)."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty() if tty is None else tty
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0

    def __call__(self, row: Row) -> None:
        self.done += 1
        self.failed += bool(row.failures)
        self.total = max(self.total, self.done)
        if self.tty:
            self._bar(_describe(row))
        else:
            print(f"[{self.done}/{self.total}] {_describe(row)}", file=self.stream, flush=True)

    def _bar(self, last: str) -> None:
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        elapsed = time.monotonic() - self.started
        failed = f", {self.failed} failed" if self.failed else ""
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total} "
            f"{elapsed:.0f} s{failed} | {last}"
        )
        line = line[:160]
        pad = " " * max(0, self._drawn - len(line))
        self.stream.write(f"\r{line}{pad}")
        self.stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        """Ends the bar's line (no-op for plain lines)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
