"""The report: metrics, the text table, and the CSV and JSON files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.report import (
    BASELINE_NAMES,
    CSV_CONTEXT,
    Row,
    Run,
    csv_columns,
    gap_closed,
    pct_of,
    table,
    write,
)


def _row(**changes: object) -> Row:
    row = Row("synthetic", "S-seed1", "cold", 1.0, jobs=1000, nodes=100, clusters=5)
    row.status, row.objective, row.bound, row.pct_of_bound = "FEASIBLE", 990, 1000, 99.0
    row.baseline_pct = {name: 95.0 for name in BASELINE_NAMES}
    row.gap_closed_pct, row.engine_s, row.engine_peak_mib = 80.0, 0.5, 300.0
    for key, value in changes.items():
        setattr(row, key, value)
    return row


def _run(rows: list[Row]) -> Run:
    machine = {"cores": "2", "cpu_model": "AMD EPYC", "python": "3.11.7", "git_commit": "abc"}
    return Run("python -m benchmarks --quick", "t0", "t1", machine, {"workers": 2}, rows)


def test_percent_of_bound_and_gap_closed() -> None:
    """% of bound and the share of the greedy-to-bound gap closed follow their definitions."""
    assert pct_of(990, 1000) == pytest.approx(99.0)
    assert pct_of(5, 0) is None
    assert gap_closed(value=990, greedy=960, bound=1000) == pytest.approx(75.0)
    assert gap_closed(value=950, greedy=960, bound=1000) == pytest.approx(-25.0)
    assert gap_closed(value=1000, greedy=1000, bound=1000) is None


def test_table_has_a_line_per_row_and_names_failures() -> None:
    """The table prints every row under the header and one FAILED line per failure."""
    text = table([_row(), _row(instance="M-seed1", failures=["engine: 2 checker violations"])])
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["instance", "mode", "status"]
    assert all(f"{name}%" in lines[0] for name in BASELINE_NAMES)
    assert lines[1].startswith("S-seed1") and "99.000" in lines[1]
    assert lines[3] == "FAILED M-seed1 (cold): engine: 2 checker violations"


def test_csv_and_json_carry_rows_machine_and_parameters(tmp_path: Path) -> None:
    """results.csv has the documented columns per row; results.json the whole run."""
    run = _run([_row(), _row(instance="S-seed2", failures=["boom"])])
    json_path, csv_path = write(run, tmp_path / "out")
    with csv_path.open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == csv_columns()
    assert {"pct_of_bound", "gap_closed_pct", "engine_s", "engine_peak_mib", "violations"} <= set(
        lines[0]
    )
    assert [line["instance"] for line in lines] == ["S-seed1", "S-seed2"]
    assert lines[0]["ffd_pct"] == "95.0" and lines[0]["cpu_model"] == "AMD EPYC"
    assert set(CSV_CONTEXT) <= set(lines[0]) and lines[1]["failures"] == "boom"
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["failed"] is True and document["machine"]["cores"] == "2"
    assert document["parameters"] == {"workers": 2}
    assert document["rows"][0]["baseline_pct"]["k8s"] == 95.0
