"""The API track's rows, its tables and its files (results.json, results.csv, queue.csv,
table.txt), and the issue's targets each row is read against."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


@dataclass
class Row:
    """One measurement. `level` is the phase's knob: concurrent clients (unary), items per
    call (batch), offered jobs/s (lease), jobs queued (queue). Latencies are milliseconds;
    None where the phase does not measure it."""

    database: str  # sqlite | postgresql
    phase: str  # unary | batch | lease | queue
    level: int
    seconds: float  # the measured window
    calls: int
    jobs_acked: int  # jobs the server acknowledged to the clients
    jobs_stored: int  # jobs in the database after the group: every acknowledged one
    errors: int  # failed calls and refused items
    error_codes: str  # e.g. "UNAVAILABLE:2 item_error:1"; empty without errors
    rate: float  # jobs acknowledged per second (lease: the achieved offered rate)
    skipped: int = 0  # lease: calls not sent, over MAX_LAG_S behind schedule (server too slow)
    lag_s: float = 0.0  # lease: the latest a sent call started after its schedule
    p50_ms: float | None = None  # the call's latency (lease: submit -> LEASED)
    p99_ms: float | None = None
    delivered_p50_ms: float | None = None  # lease: submit -> lease received by the agent
    delivered_p99_ms: float | None = None
    leased: int | None = None  # lease: jobs leased by the end of the drain
    backlog_max: int | None = None  # lease: most jobs queued at once during the window
    backlog_end: int | None = None  # lease: jobs queued when the offered window ended
    drain_s: float | None = None  # lease: from the window's end until nothing was queued
    kept_up: bool | None = None  # lease: see keeps_up()
    get_p50_ms: float | None = None  # queue: GetJob
    get_p99_ms: float | None = None
    list_p50_ms: float | None = None  # queue: ListJobs, first page of 100 QUEUED
    list_p99_ms: float | None = None
    cycles: int | None = None  # cycles completed in the window
    cycle_p50_ms: float | None = None
    cycle_max_ms: float | None = None
    cycle_phases_ms: str = ""  # median ms per cycle phase, from the server's cycle_completed
    server_cpu_s: float = 0.0  # the server's CPU seconds in the window (all its threads)
    rss_mib: float = 0.0  # the server's VmRSS at the end of the window
    hwm_mib: float = 0.0  # the server's VmHWM (peak RSS since it started)
    load1: float = 0.0  # the machine's 1-minute load average at the end of the window


@dataclass
class QueueSample:
    database: str
    rate: int
    t_s: float  # since the offered window began
    queued: int
    active: int  # LEASED + RUNNING


@dataclass
class Results:
    header: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    samples: list[QueueSample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # groups that raised, with the error


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def keeps_up(rate: int, backlog_end: int, drain_s: float | None, interval_s: float = 1.0) -> bool:
    """The scheduler keeps up with `rate` jobs/s when what is queued at the end of the window
    is at most ~2 cycle intervals of arrivals and drains within a few seconds: no backlog
    that grows with time."""
    return backlog_end <= 2 * rate * interval_s and drain_s is not None and drain_s <= 5.0


# The targets on this machine: (phase, level or None for any, column, bound, kind).
TARGETS: tuple[tuple[str, int | None, str, float, str], ...] = (
    ("batch", 1000, "rate", 20_000, ">="),
    ("unary", None, "rate", 2_000, ">="),
    ("unary", None, "p99_ms", 50, "<="),
    ("lease", 200, "p99_ms", 2_000, "<="),
    ("queue", 100_000, "get_p99_ms", 20, "<="),
    ("queue", 100_000, "cycle_p50_ms", 3_000, "<="),
)


def verdicts(rows: Sequence[Row]) -> list[str]:
    """One line per target and database: the best measured value, met or missed and by what
    factor. The unary targets are read at the row with the highest rate."""
    lines = []
    for database in sorted({r.database for r in rows}):
        mine = [r for r in rows if r.database == database]
        for phase, level, column, bound, kind in TARGETS:
            found = [r for r in mine if r.phase == phase and (level is None or r.level == level)]
            if phase == "unary" and found:
                found = [max(found, key=lambda r: r.rate)]
            values = [getattr(r, column) for r in found if getattr(r, column) is not None]
            where = f"{phase}{'' if level is None else f' {level}'} {column}"
            if not values:
                lines.append(f"{database:<10} {where:<28} {kind} {bound:g}: not measured")
                continue
            value = max(values) if kind == ">=" else min(values)
            met = value >= bound if kind == ">=" else value <= bound
            factor = (bound / value if kind == ">=" else value / bound) if value else math.inf
            status = "met" if met else f"MISSED x{factor:.1f}"
            lines.append(f"{database:<10} {where:<28} {kind} {bound:g}: {value:.1f}  {status}")
        for r in mine:
            if r.phase == "lease" and r.level == 1000:
                lines.append(
                    f"{database:<10} {'lease 1000 keeps up':<28}    : "
                    f"{'yes' if r.kept_up else 'NO'} (backlog at end {r.backlog_end}, "
                    f"drained in {_fmt(r.drain_s)} s)"
                )
    return lines


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "unary": (("clients", "level"), ("jobs/s", "rate"), ("p50 ms", "p50_ms"),
              ("p99 ms", "p99_ms"), ("calls", "calls"), ("errors", "errors"),
              ("srv cpu s", "server_cpu_s"), ("window s", "seconds"), ("load", "load1")),
    "batch": (("items", "level"), ("jobs/s", "rate"), ("p50 ms", "p50_ms"),
              ("p99 ms", "p99_ms"), ("calls", "calls"), ("errors", "errors"),
              ("srv cpu s", "server_cpu_s"), ("window s", "seconds"), ("load", "load1")),
    "lease": (("offered/s", "level"), ("achieved/s", "rate"), ("LEASED p50", "p50_ms"),
              ("LEASED p99", "p99_ms"), ("agent p50", "delivered_p50_ms"),
              ("agent p99", "delivered_p99_ms"), ("backlog max", "backlog_max"),
              ("backlog end", "backlog_end"), ("drain s", "drain_s"), ("keeps up", "kept_up"),
              ("skipped", "skipped"), ("lag s", "lag_s"),
              ("cycle p50", "cycle_p50_ms"), ("load", "load1")),
    "queue": (("queued", "level"), ("GetJob p50", "get_p50_ms"), ("GetJob p99", "get_p99_ms"),
              ("ListJobs p50", "list_p50_ms"), ("ListJobs p99", "list_p99_ms"),
              ("cycles", "cycles"), ("cycle p50", "cycle_p50_ms"), ("cycle max", "cycle_max_ms"),
              ("RSS MiB", "rss_mib"), ("peak MiB", "hwm_mib"), ("load", "load1")),
}  # fmt: skip


def tables(rows: Sequence[Row]) -> str:
    """A table per database and phase (milliseconds unless the header says otherwise)."""
    out = []
    for database in dict.fromkeys(r.database for r in rows):
        for phase, columns in _TABLES.items():
            part = [r for r in rows if r.database == database and r.phase == phase]
            if not part:
                continue
            cells = [[_fmt(getattr(r, attr)) for _, attr in columns] for r in part]
            widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _) in enumerate(columns)]
            out.append(f"== {database}: {phase} ==")
            out.append("  ".join(h.rjust(w) for (h, _), w in zip(columns, widths, strict=True)))
            out += [
                "  ".join(c.rjust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells
            ]
            out.append("")
    return "\n".join(out)


def write(results: Results, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv", out / "queue.csv", out / "table.txt"]
    document = {
        "format_version": FORMAT_VERSION,
        **results.header,
        "rows": [asdict(r) for r in results.rows],
        "queue_samples": [asdict(s) for s in results.samples],
        "targets": verdicts(results.rows),
        "failures": results.failures,
    }
    paths[0].write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    for path, cls, items in (
        (paths[1], Row, results.rows),
        (paths[2], QueueSample, results.samples),
    ):
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            names = [f.name for f in fields(cls)]
            writer.writerow(names)
            for item in items:
                writer.writerow(["" if v is None else v for v in (getattr(item, n) for n in names)])
    paths[3].write_text(tables(results.rows) + "\n" + "\n".join(verdicts(results.rows)) + "\n")
    return paths
