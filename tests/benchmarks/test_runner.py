"""The runner and its command line: the quick run, plugged-in tracks, exit codes."""

from __future__ import annotations

import argparse
import csv
import functools
import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import pytest

import benchmarks.__main__ as cli
from benchmarks.report import Row, csv_columns
from benchmarks.runner import Instance, Settings, Verdict, run_track
from benchmarks.synthetic import Spec, generate
from scheduler.placement.model import Problem, Solution

TINY = Spec("tiny", jobs=120, nodes=16, clusters=2, regions=2, departments=3)


def test_quick_run_writes_json_and_csv_and_exits_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--quick solves S and the S warm-start pair with zero violations and writes both files.

    The regression thresholds are wall-clock results: .ci/run checks them with the benchmark
    itself; here, on a machine busy with the rest of the suite, they would make this a timed
    unit test (tests/benchmarks/test_thresholds.py tests the checking)."""
    monkeypatch.setattr(cli.thresholds, "load", lambda: [])
    assert cli.main(["--quick", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    rows = document["rows"]
    assert [(r["instance"], r["mode"]) for r in rows] == [
        ("S-seed1", "cold"),
        ("S-seed1+churn0.01", "churn-cold"),
        ("S-seed1+churn0.01", "churn-warm"),
    ]
    for row in rows:
        assert row["violations"] == 0 and row["failures"] == []
        assert 0 < row["pct_of_bound"] <= 100
        assert row["engine_s"] > 0 and 0 < row["engine_peak_mib"] <= row["process_peak_mib"]
        assert set(row["baseline_pct"]) == {"ffd", "best_fit", "drf", "k8s"}
    assert document["parameters"]["quick"] is True
    assert document["parameters"]["specs"]["S"]["jobs"] == 1000
    assert {"cores", "cpu_model", "python", "ortools", "suanchou"} <= set(document["machine"])
    with (tmp_path / "results.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == csv_columns()
        assert len(list(reader)) == 3


def _tiny() -> Problem:
    return generate(TINY, 3)


def _reject_everything(p: Problem, s: Solution) -> Verdict:
    return Verdict(feasible=False, objective=0.0, violations=("track rule 1 broken",))


class _OneInstanceTrack:
    """A track of one instance whose own evaluator rejects every answer."""

    @property
    def name(self) -> str:
        return "fake"

    def instances(self) -> Sequence[Instance]:
        return [Instance("fake", "tiny-3", _tiny, 0.5, reference=1.0, judge=_reject_everything)]


def test_a_plugged_in_track_is_judged_by_its_own_evaluator() -> None:
    """A track's evaluator runs on the engine's answer; its verdict is reported as a failure."""
    (row,) = run_track(_OneInstanceTrack(), Settings())
    assert (row.track, row.instance, row.jobs, row.reference) == ("fake", "tiny-3", 120, 1.0)
    assert row.track_objective == 0.0 and row.violations == 1
    assert row.failures == ["track evaluator: infeasible (track rule 1 broken)"]


def test_failed_rows_make_the_exit_code_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with any failed row exits with 1 and still writes its files."""
    failed = Row("synthetic", "S-seed1", "cold", 1.0, violations=2, failures=["engine: 2"])
    monkeypatch.setattr(cli, "run_track", lambda *args, **kwargs: [failed])
    assert cli.main(["--sizes", "S", "--churn-size", "none", "--out", str(tmp_path)]) == 1
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["failed"] is True


def test_seed_lists_and_ranges() -> None:
    """Seeds are given as a list, a range, or both; nonsense is refused."""
    assert cli.parse_seeds("1,3-5,3") == (1, 3, 4, 5)
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_seeds("5-1")
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_sizes("S,XL")


def test_quick_is_a_fixed_subset(capsys: pytest.CaptureFixture[str]) -> None:
    """--quick refuses flags that would change its subset."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quick", "--sizes", "M"])
    assert exit_info.value.code == 2
    assert "fixed subset" in capsys.readouterr().err


def test_instances_carry_their_build_across_processes() -> None:
    """A track's build function survives pickling to the worker and rebuilds the same problem."""
    instance = Instance("synthetic", "tiny", functools.partial(generate, TINY, 3), 0.5)
    assert pickle.loads(pickle.dumps(instance)).build() == _tiny()
