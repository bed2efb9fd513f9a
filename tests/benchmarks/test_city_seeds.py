"""The multi-seed city command: seed lists, the per-baseline target counts, and a small run
that writes its CSV and JSON."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.city.seeds import MAX_SEEDS, Row, main, parse_seeds, versus_separate, wins
from scheduler import logs


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logs.configure("warning", json=False)
    yield


def test_seed_lists_and_ranges_are_parsed_and_bounded() -> None:
    assert parse_seeds("1-3,9") == [1, 2, 3, 9]
    assert parse_seeds("5, 2,5") == [5, 2]
    for bad in ("x", "3-1", f"1-{MAX_SEEDS + 1}", "1-2-3", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seeds(bad)
    with pytest.raises(argparse.ArgumentTypeError) as e:
        parse_seeds("A" * 500)
    assert len(str(e.value)) < 60  # quotes a short prefix only


def _row(seed: int, policy: str, util: float, p95: float, preempted: int, kept: float) -> Row:
    return Row(seed, policy, util, 0.3, p95, 5.0, kept, preempted, 10.0, 100, 100, 1.0)


def test_wins_count_each_target_per_seed_against_one_baseline() -> None:
    """Seed 1: every target met. Seed 2: utilisation lower, p95 equal (not lower), more
    preemptions, guarantee 98.9%: none met. Seed 3: only the preemptions (equal counts)."""
    rows = [
        _row(1, "suanchou", 0.41, 0.2, 3, 0.995),
        _row(1, "kueue", 0.40, 0.3, 5, 0.97),
        _row(2, "suanchou", 0.39, 0.3, 9, 0.989),
        _row(2, "kueue", 0.40, 0.3, 5, 0.99),
        _row(3, "suanchou", 0.40, 0.5, 5, 0.98),
        _row(3, "kueue", 0.40, 0.3, 5, 0.99),
        _row(4, "suanchou", 0.50, 0.1, 0, 1.0),  # no kueue row: not counted
    ]
    w = wins(rows, "kueue")
    assert (w.seeds, w.util, w.p95, w.preemptions, w.guarantee, w.all_four) == (3, 1, 1, 2, 1, 1)
    assert (
        wins(
            [replace(r, policy="slurm") if r.policy == "kueue" else r for r in rows], "kueue"
        ).seeds
        == 0
    )


def test_versus_separate_counts_the_seeds_with_half_the_p95_or_less() -> None:
    """p95 0.2 against 4.0 (ratio 0.05) and 1.0 against 2.0 (0.5, counted: at most half),
    1.5 against 2.0 (0.75, not); a seed without a separate row is left out."""
    rows = [
        _row(1, "suanchou", 0.4, 0.2, 0, 1.0),
        _row(1, "separate", 0.4, 4.0, 0, 1.0),
        _row(2, "suanchou", 0.4, 1.0, 0, 1.0),
        _row(2, "separate", 0.4, 2.0, 0, 1.0),
        _row(3, "suanchou", 0.4, 1.5, 0, 1.0),
        _row(3, "separate", 0.4, 2.0, 0, 1.0),
        _row(4, "suanchou", 0.4, 9.0, 0, 1.0),
    ]
    v = versus_separate(rows)
    assert v is not None and (v.seeds, v.halved) == (3, 2)
    assert v.mean_ratio == pytest.approx((0.05 + 0.5 + 0.75) / 3)
    assert versus_separate(rows[:1]) is None


def test_a_small_run_writes_one_row_per_seed_and_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--seeds", "3,4", "--departments", "3", "--nodes", "8", "--jobs", "30",
                 "--days", "1", "--policies", "suanchou,kueue", "--workers", "1",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    with (tmp_path / "results.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["seed"], r["policy"]) for r in rows] == [
        ("3", "suanchou"), ("3", "kueue"), ("4", "suanchou"), ("4", "kueue")
    ]  # fmt: skip
    assert all(r["finished"] == r["jobs"] == "30" for r in rows)
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [w["baseline"] for w in doc["wins"]] == ["kueue"] and doc["wins"][0]["seeds"] == 2
    assert doc["versus_separate"] is None  # no separate replay asked for
    out = capsys.readouterr().out
    assert "mean (min-max) over the seeds" in out and "all four" in out


def test_the_no_preemption_variant_never_preempts_and_gets_its_own_target_counts(
    tmp_path: Path,
) -> None:
    """Seed 4 of this small city makes suanchou preempt (4 jobs when measured); the same
    cycle with preemption off stops none, and both are counted against the baseline."""
    code = main(["--seeds", "4", "--departments", "3", "--nodes", "8", "--jobs", "60",
                 "--days", "1", "--policies", "suanchou,suanchou-no-preemption,slurm",
                 "--workers", "1", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    preempted = {r["policy"]: r["preemptions"] for r in doc["rows"]}
    assert preempted["suanchou"] > 0 and preempted["suanchou-no-preemption"] == 0
    assert [(w["policy"], w["baseline"]) for w in doc["wins"]] == [
        ("suanchou", "slurm"), ("suanchou-no-preemption", "slurm")
    ]  # fmt: skip
    assert [w["preemptions"] for w in doc["wins"]] == [0, 1]
