"""The run's outputs: a text table for people, CSV for spreadsheets, JSON for tools.

JSON holds everything: format version, command, start and end time, machine, parameters and the
rows (baseline percentages nested, failures as a list). CSV holds one flat line per row, each
repeating the machine and the parameters that vary between runs, so rows from different runs
and machines can be concatenated without losing where they came from.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT_VERSION = 1
# Greedy baselines as report columns: first-fit decreasing, best fit, DRF order, and a
# Kubernetes-like FIFO + best fit (scheduler.placement.baselines).
BASELINE_NAMES = ("ffd", "best_fit", "drf", "k8s")
# Machine and parameter keys copied into every CSV line.
CSV_CONTEXT = ("cores", "cpu_model", "load_avg_1m", "python", "ortools", "suanchou", "git_commit")
CSV_PARAMETERS = ("deterministic", "workers", "engine_seed")


@dataclass
class Row:
    """One line of the report: an instance (or a churn step) solved once."""

    track: str
    instance: str
    mode: str  # "cold"; "churn-cold" / "churn-warm" for the warm-start experiment
    time_limit_s: float
    jobs: int = 0
    nodes: int = 0
    clusters: int = 0
    status: str = ""
    source: str = ""  # the engine part whose answer won (cpsat, lns, lp_round, a baseline...)
    objective: float | None = None
    bound: float | None = None
    bound_status: str = ""
    pct_of_bound: float | None = None
    baseline_pct: dict[str, float | None] = field(default_factory=dict)
    best_greedy: str = ""
    best_greedy_objective: float | None = None
    gap_closed_pct: float | None = None
    engine_s: float | None = None  # wall time of solve(), model build included
    engine_build_s: float | None = None  # the engine's own build stage, part of engine_s
    engine_bound: float | None = None  # the engine's upper bound (LP or CP-SAT's, tighter)
    gen_s: float | None = None  # building the Problem: generation or loading, validation
    # (churn rows: building the next cycle from the previous one)
    gen_peak_mib: float | None = None
    lp_s: float | None = None
    baselines_s: float | None = None
    engine_peak_mib: float | None = None
    process_peak_mib: float | None = None
    placed_jobs: int | None = None
    violations: int = 0
    reference: float | None = None
    track_objective: float | None = None
    failures: list[str] = field(default_factory=list)
    # Published tracks: the objective's direction, which published value `reference` is, every
    # published value by name, the gap to the reference (%, positive = worse), the track
    # evaluator's feasibility, further measures and the solution file written.
    sense: str = ""
    reference_kind: str = ""
    references: dict[str, float] = field(default_factory=dict)
    gap_pct: float | None = None
    track_feasible: bool | None = None
    measures: dict[str, float] = field(default_factory=dict)
    solution_file: str = ""

    @property
    def size(self) -> str:
        """jobs x nodes of the engine's problem ('-' when it was never built)."""
        return f"{self.jobs}x{self.nodes}" if self.jobs or self.nodes else "-"

    def flat(self) -> dict[str, object]:
        """The row as flat columns (baseline percentages as <name>_pct; references and
        measures as JSON objects)."""
        out = asdict(self)
        pcts = out.pop("baseline_pct")
        out["failures"] = "; ".join(self.failures)
        out["references"] = json.dumps(self.references, sort_keys=True) if self.references else ""
        out["measures"] = json.dumps(self.measures, sort_keys=True) if self.measures else ""
        for name in BASELINE_NAMES:
            out[f"{name}_pct"] = pcts.get(name)
        return out


def pct_of(value: float, bound: float) -> float | None:
    """value as a percentage of the bound (None when the bound is not positive)."""
    return 100.0 * value / bound if bound > 0 else None


def gap_pct(value: float, reference: float, sense: str = "min") -> float | None:
    """How far value is from the reference, in % of the reference; positive = worse than it,
    negative = better (None when the reference is 0)."""
    if reference == 0:
        return None
    worse = value - reference if sense == "min" else reference - value
    return 100.0 * worse / abs(reference)


def at_or_better(value: float, reference: float, sense: str = "min") -> bool:
    return value <= reference if sense == "min" else value >= reference


def gap_closed(value: float, greedy: float, bound: float) -> float | None:
    """Share (%) of the best-greedy-to-bound gap the engine closed; None when greedy is
    already at the bound (there is no gap to close). Negative when below greedy."""
    gap = bound - greedy
    return 100.0 * (value - greedy) / gap if gap > 0 else None


@dataclass(frozen=True)
class Run:
    """A finished run: what was measured, where, and how."""

    command: str
    started_at: str
    finished_at: str
    machine: Mapping[str, str]
    parameters: Mapping[str, object]
    rows: Sequence[Row]

    @property
    def failed(self) -> bool:
        return any(row.failures for row in self.rows)

    def only(self, track: str) -> Run:
        """The same run restricted to one track's rows."""
        return Run(
            self.command,
            self.started_at,
            self.finished_at,
            self.machine,
            self.parameters,
            [r for r in self.rows if r.track == track],
        )


def csv_columns() -> list[str]:
    """Every CSV column, in order."""
    probe = Row("", "", "", 0.0).flat()
    return [*probe, *CSV_CONTEXT, *CSV_PARAMETERS]


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _big(value: float | None) -> str:
    # Objectives are large integers (work scaled above every cost); the % columns carry the
    # comparison, this column only the magnitude.
    return "-" if value is None else f"{value:.6g}"


def table(rows: Sequence[Row]) -> str:
    """Fixed-width table, one line per row, then one line per failure."""
    head = ["instance", "mode", "status", "objective", "LP bound", "%bound"]
    head += [f"{name}%" for name in BASELINE_NAMES]
    head += ["closed%", "time s", "peak MiB", "viol"]
    lines = [head]
    for r in rows:
        cells = [r.instance, r.mode, r.status or "-", _big(r.objective), _big(r.bound)]
        cells.append(_num(r.pct_of_bound, 3))
        cells += [_num(r.baseline_pct.get(name), 2) for name in BASELINE_NAMES]
        cells += [
            _num(r.gap_closed_pct, 1),
            _num(r.engine_s, 2),
            _num(r.engine_peak_mib, 0),
            str(r.violations),
        ]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    for r in rows:
        text += [f"FAILED {r.instance} ({r.mode}): {f}" for f in r.failures]
    return "\n".join(text)


# -- published tracks: the table against the reference, and its summary ---------------------


def _optimal(r: Row) -> bool:
    """Proven optimal: the engine says so, or the answer reaches a published optimum or lower
    bound (minimisation)."""
    if r.track_objective is None or r.failures:
        return False
    if r.status == "OPTIMAL":
        return True
    if r.sense != "min":
        return False
    return any(
        r.track_objective <= r.references[k]
        for k in ("optimum", "lower_bound")
        if k in r.references
    )


def summary(rows: Sequence[Row]) -> dict[str, object]:
    """Per-track summary: counts, mean and max gap to the reference, how many optimal, and how
    many at or better than each published value (plus the mean ratio to a lower bound)."""
    scored = [r for r in rows if r.track_objective is not None and not r.failures]
    gaps = [r.gap_pct for r in scored if r.gap_pct is not None]
    times = [r.engine_s for r in rows if r.engine_s is not None]
    out: dict[str, object] = {
        "instances": len(rows),
        "failed": sum(1 for r in rows if r.failures),
        "feasible": sum(1 for r in rows if r.track_feasible),
        "mean_gap_pct": sum(gaps) / len(gaps) if gaps else None,
        "median_gap_pct": statistics.median(gaps) if gaps else None,
        "max_gap_pct": max(gaps) if gaps else None,
        "optimal": sum(1 for r in scored if _optimal(r)),
        "mean_time_s": sum(times) / len(times) if times else None,
        "max_time_s": max(times) if times else None,
    }
    names = sorted(
        {k for r in rows for k in r.references},
        key=lambda k: (
            _REFERENCE_ORDER.index(k) if k in _REFERENCE_ORDER else len(_REFERENCE_ORDER),
            k,
        ),
    )
    better: dict[str, list[int]] = {}
    # Strictly better: a target such as "lower cost than the ROADEF winner's result" needs it.
    strictly: dict[str, list[int]] = {}
    for name in names:
        have = [r for r in scored if name in r.references]
        hits = wins = 0
        for r in have:
            assert r.track_objective is not None
            ref = r.references[name]
            hits += at_or_better(r.track_objective, ref, r.sense or "min")
            wins += r.track_objective != ref and at_or_better(
                r.track_objective, ref, r.sense or "min"
            )
        total = sum(1 for r in rows if name in r.references)
        better[name] = [hits, total]
        strictly[name] = [wins, total]
    out["at_or_better"] = better
    out["strictly_better"] = strictly
    ratios = [
        r.track_objective / r.references["lower_bound"]
        for r in scored
        if r.track_objective is not None and r.references.get("lower_bound", 0) > 0
    ]
    out["mean_ratio_to_lower_bound"] = sum(ratios) / len(ratios) if ratios else None
    return out


_REFERENCE_ORDER = [
    "optimum",
    "best_overall",
    "best_known",
    "s41_300s",
    "lower_bound",
    "initial",
    "fgd",
    "best_fit",
    "worst_fit",
]


def _objective(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4f}"


def track_table(rows: Sequence[Row]) -> str:
    """instance | size | status | objective | reference | gap % | time s, then summary lines
    and one line per failure."""
    head = ["instance", "size", "status", "objective", "reference", "gap %", "time s"]
    lines = [head]
    for r in rows:
        status = r.status or "-"
        if r.failures:
            status += " FAILED"
        lines.append(
            [
                r.instance,
                r.size,
                status,
                _objective(r.track_objective),
                _objective(r.reference),
                _num(r.gap_pct, 3),
                _num(r.engine_s, 2),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.append("-" * len(text[0]))
    text += summary_lines(rows)
    for r in rows:
        text += [f"FAILED {r.instance}: {f}" for f in r.failures]
    return "\n".join(text)


def summary_lines(rows: Sequence[Row]) -> list[str]:
    s = summary(rows)
    kind = next((r.reference_kind for r in rows if r.reference_kind), "reference")
    mean_gap, max_gap, median = s["mean_gap_pct"], s["max_gap_pct"], s["median_gap_pct"]
    lines = [
        f"instances {s['instances']}, failed {s['failed']}, feasible {s['feasible']}, "
        f"optimal {s['optimal']}",
    ]
    if isinstance(mean_gap, float) and isinstance(max_gap, float):
        lines.append(
            f"mean gap to {kind} {mean_gap:.3f} %, median {median:.3f} %, max {max_gap:.3f} %"
        )
    better = s["at_or_better"]
    assert isinstance(better, dict)
    strictly = s["strictly_better"]
    assert isinstance(strictly, dict)
    for name, (hits, total) in better.items():
        wins = strictly[name][0]
        lines.append(f"at or better than {name}: {hits}/{total} (strictly better: {wins})")
    ratio = s["mean_ratio_to_lower_bound"]
    if isinstance(ratio, float):
        lines.append(f"mean ratio to lower bound {ratio:.4f}")
    mean_t, max_t = s["mean_time_s"], s["max_time_s"]
    if isinstance(mean_t, float) and isinstance(max_t, float):
        lines.append(f"time s mean {mean_t:.2f}, max {max_t:.2f}")
    return lines


def write_json(run: Run, path: Path) -> None:
    tracks = sorted({row.track for row in run.rows})
    document = {
        "format_version": FORMAT_VERSION,
        "command": run.command,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "failed": run.failed,
        "machine": dict(run.machine),
        "parameters": dict(run.parameters),
        "summary": {t: summary([r for r in run.rows if r.track == t]) for t in tracks},
        "rows": [asdict(row) for row in run.rows],
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_csv(run: Run, path: Path) -> None:
    context = {key: run.machine.get(key, "") for key in CSV_CONTEXT}
    context.update({key: str(run.parameters.get(key, "")) for key in CSV_PARAMETERS})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns())
        writer.writeheader()
        for row in run.rows:
            writer.writerow({**row.flat(), **context})


def write(run: Run, out: Path) -> tuple[Path, Path]:
    """results.json and results.csv in `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / "results.json", out / "results.csv"
    write_json(run, json_path)
    write_csv(run, csv_path)
    return json_path, csv_path
