"""Reference tables: best_known.csv (GAP, ROADEF) and the Panigrahy summary TSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tracks import FormatError, references


def test_gap_table_keeps_open_optima_open(tmp_path: Path) -> None:
    """An empty min_optimum is None; bounds and other numeric columns are kept by name."""
    (tmp_path / "gap").mkdir()
    (tmp_path / "gap" / "best_known.csv").write_text(
        "file,dataset,agents_m,jobs_n,min_best_bound,min_optimum,min_best_known\n"
        "chu1997/x,chu1997,2,3,10,,12\n"
        "chu1997/y,chu1997,2,3,7,7,7\n"
    )
    refs = references.gap(tmp_path)
    assert refs["chu1997/x"] == references.Reference(
        instance="chu1997/x",
        lower_bound=10,
        optimum=None,
        best_known=12,
        values=(("agents_m", 2), ("jobs_n", 3), ("min_best_bound", 10), ("min_best_known", 12)),
        notes=(("dataset", "chu1997"),),
    )
    assert refs["chu1997/y"].optimum == 7


def test_vbp_table_treats_minus_one_as_unknown_optimum(tmp_path: Path) -> None:
    """OPT -1 means unknown; best known is then the paper's best heuristic."""
    (tmp_path / "vbp").mkdir()
    (tmp_path / "vbp" / "Panigrahy_summary_known.tsv").write_text(
        "instance_name\tLB\tOPT\tbest_overall\tbest_IC\na\t5\t-1\t7\t8\nb\t3\t4\t4\t5\n"
    )
    refs = references.vbp(tmp_path)
    assert (refs["a"].lower_bound, refs["a"].optimum, refs["a"].best_known) == (5, None, 7)
    assert (refs["b"].optimum, refs["b"].best_known, refs["b"].value("best_IC")) == (4, 4, 5)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    """A table without a required column is refused with the column's name."""
    (tmp_path / "roadef2012").mkdir()
    (tmp_path / "roadef2012" / "best_known.csv").write_text("instance,initial_cost\na1_1,5\n")
    with pytest.raises(FormatError, match=r"missing column.*lower_bound_aggregate"):
        references.roadef(tmp_path)
    with pytest.raises(FileNotFoundError, match="reference table not found"):
        references.gap(tmp_path)


def test_published_tables_give_the_readmes_values(benchdata: Path) -> None:
    """Spot checks against the benchdata README: ROADEF bounds and S41, GAP and VBP optima."""
    roadef = references.roadef(benchdata)
    assert len(roadef) == 10
    a1_4 = roadef["a1_4"]
    assert (a1_4.lower_bound, a1_4.best_known) == (242_387_530, 247_433_844)
    assert a1_4.value("s41_challenge_300s") == 262_125_116
    assert a1_4.value("initial_cost") == 632_499_600
    gap = references.gap(benchdata)
    assert len(gap) == 84 and gap["chu1997/d20200"].optimum is None
    assert gap["chu1997/d20200"].best_known == 12244
    assert gap["cattrysse1994/gap12-4"].optimum == 945
    vbp = references.vbp(benchdata)
    assert len(vbp) == 1620
    assert sum(1 for r in vbp.values() if r.optimum is None) == 420
