"""Regression thresholds for the quick run (`python -m benchmarks --quick`).

`benchmarks/thresholds.toml` records, per quick instance, the worst acceptable value of one
measure of its row, with a note on how the value was derived. Each entry is a `[[threshold]]`
table with `track`, `instance`, `mode` (default "cold"), `metric`, exactly one of `at_least` /
`at_most`, and a non-empty `note`. Metrics:

- `pct_of_bound`: the engine's objective as % of the LP bound (synthetic rows);
- `gap_pct`: % worse than the published reference (published rows; negative = better);
- `worse_than_reference`: how much worse than the reference in the track's own units
  (VBP bins over the reference, OpenB GPU share below FGD's), by the row's `sense`;
- the city simulator's (`python -m benchmarks --track city --quick`, instance = a policy, mode
  "quick"): `wait_p95_h`, `wait_mean_h`, `util_cpu`, `guarantee`, `finished_share`,
  `preemptions`, and `fewer_nodes_pct` (instance "<policy>-headline": the 统筹 number).

A threshold whose row is not in the run (a --filter or --track subset) is reported as not run;
a row present without a value for the metric is a breach.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import Row

PATH = Path(__file__).with_name("thresholds.toml")
ROW_METRICS = ("pct_of_bound", "gap_pct", "worse_than_reference")
CITY_METRICS = (
    "wait_p95_h",
    "wait_mean_h",
    "util_cpu",
    "guarantee",
    "finished_share",
    "preemptions",
    "fewer_nodes_pct",
)
METRICS = ROW_METRICS + CITY_METRICS
Values = Mapping[tuple[str, str, str], Mapping[str, float | None]]
_KEYS = {"track", "instance", "mode", "metric", "at_least", "at_most", "note"}


@dataclass(frozen=True)
class Threshold:
    """The worst acceptable value of one metric on one quick row."""

    track: str
    instance: str
    mode: str
    metric: str
    limit: float
    at_least: bool  # True: value >= limit; False: value <= limit
    note: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.track, self.instance, self.mode)

    def describe(self) -> str:
        op = ">=" if self.at_least else "<="
        return f"{self.track} {self.instance} [{self.mode}] {self.metric} {op} {self.limit:g}"


@dataclass(frozen=True)
class Breach:
    """A threshold the run did not meet (value None: the row had no value for the metric)."""

    threshold: Threshold
    value: float | None

    def describe(self) -> str:
        got = "no value" if self.value is None else f"{self.value:.6g}"
        return f"{self.threshold.describe()}: got {got}"


@dataclass(frozen=True)
class Outcome:
    """The check of a run's rows against the thresholds."""

    breaches: tuple[Breach, ...]
    passed: tuple[Threshold, ...]
    not_run: tuple[Threshold, ...]  # their rows are not in the run
    unchecked: tuple[tuple[str, str, str], ...]  # rows without any threshold

    @property
    def failed(self) -> bool:
        return bool(self.breaches)


def _threshold(entry: Any, index: int) -> Threshold:
    where = f"threshold #{index + 1}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: not a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("track", "instance", "metric", "note"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ValueError(f"{where}: `{key}` must be a non-empty string")
    mode = entry.get("mode", "cold")
    if not isinstance(mode, str) or not mode:
        raise ValueError(f"{where}: `mode` must be a non-empty string")
    if entry["metric"] not in METRICS:
        raise ValueError(f"{where}: unknown metric {entry['metric']!r}; known: {METRICS}")
    bounds = [k for k in ("at_least", "at_most") if k in entry]
    if len(bounds) != 1:
        raise ValueError(f"{where}: give exactly one of `at_least`, `at_most`")
    limit = entry[bounds[0]]
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise ValueError(f"{where}: `{bounds[0]}` must be a number")
    return Threshold(
        track=entry["track"],
        instance=entry["instance"],
        mode=mode,
        metric=entry["metric"],
        limit=float(limit),
        at_least=bounds[0] == "at_least",
        note=entry["note"].strip(),
    )


def parse(text: str) -> list[Threshold]:
    """The thresholds of a TOML text; ValueError on a malformed or duplicated entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"thresholds: {e}") from None
    entries = data.get("threshold", [])
    if not isinstance(entries, list):
        raise ValueError("thresholds: `threshold` must be an array of tables ([[threshold]])")
    found = [_threshold(entry, i) for i, entry in enumerate(entries)]
    seen: set[tuple[str, str, str, str]] = set()
    for t in found:
        if (*t.key, t.metric) in seen:
            raise ValueError(f"thresholds: {t.describe()} given twice")
        seen.add((*t.key, t.metric))
    return found


def load(path: Path = PATH) -> list[Threshold]:
    return parse(path.read_text(encoding="utf-8"))


def value(row: Row, metric: str) -> float | None:
    """The row's value of a metric (None when the row does not have it)."""
    if metric == "pct_of_bound":
        return row.pct_of_bound
    if metric == "gap_pct":
        return row.gap_pct
    if metric == "worse_than_reference":
        if row.track_objective is None or row.reference is None:
            return None
        if row.sense == "max":
            return row.reference - row.track_objective
        return row.track_objective - row.reference
    raise ValueError(f"unknown metric {metric!r}")


def check(
    rows: Sequence[Row], thresholds: Sequence[Threshold], extra: Values | None = None
) -> Outcome:
    """Every threshold against the row it names; `extra` adds measured values by (track,
    instance, mode) and metric for runs that are not rows (the city simulator)."""
    by_key: dict[tuple[str, str, str], Mapping[str, float | None]] = {
        (r.track, r.instance, r.mode): {m: value(r, m) for m in ROW_METRICS} for r in rows
    }
    by_key.update(extra or {})
    breaches: list[Breach] = []
    passed: list[Threshold] = []
    not_run: list[Threshold] = []
    for t in thresholds:
        row = by_key.get(t.key)
        if row is None:
            not_run.append(t)
            continue
        got = row.get(t.metric)
        ok = got is not None and (got >= t.limit if t.at_least else got <= t.limit)
        if ok:
            passed.append(t)
        else:
            breaches.append(Breach(t, got))
    covered = {t.key for t in thresholds}
    unchecked = tuple(k for k in by_key if k not in covered)
    return Outcome(tuple(breaches), tuple(passed), tuple(not_run), unchecked)


def report(outcome: Outcome) -> str:
    """The "regressions" section of the quick run's output."""
    lines = ["== regressions =="]
    if outcome.breaches:
        lines += [f"BREACH {b.describe()}" for b in outcome.breaches]
    else:
        lines.append(f"none: {len(outcome.passed)} thresholds met")
    lines += [f"not run: {t.describe()}" for t in outcome.not_run]
    lines += [f"no threshold: {' '.join(k)}" for k in outcome.unchecked]
    return "\n".join(lines)
