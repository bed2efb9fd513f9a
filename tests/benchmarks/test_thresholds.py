"""The quick run's regression thresholds: parsing, checking and coverage of the quick subset."""

from __future__ import annotations

import pytest

from benchmarks import published, thresholds
from benchmarks.__main__ import QUICK_SEEDS, QUICK_SIZES
from benchmarks.report import Row

_TOML = """
[[threshold]]
track = "synthetic"
instance = "S-seed1"
metric = "pct_of_bound"
at_least = 98.5
note = "min of runs minus 0.5"

[[threshold]]
track = "vbp"
instance = "class7_40_3_3"
metric = "worse_than_reference"
at_most = 1
note = "plus one bin"

[[threshold]]
track = "openb"
instance = "default"
metric = "worse_than_reference"
at_most = 0.005
note = "share >= fgd - 0.005"

[[threshold]]
track = "gap"
instance = "chu1997/c05100"
metric = "gap_pct"
at_most = 1.0
note = "4x worst gap"
"""


def _rows(pct: float, bins: float, share: float, gap: float) -> list[Row]:
    synthetic = Row("synthetic", "S-seed1", "cold", 1.0, pct_of_bound=pct)
    vbp = Row("vbp", "class7_40_3_3", "cold", 2.0, reference=17.0, track_objective=bins)
    vbp.sense = "min"
    openb = Row("openb", "default", "cold", 5.0, reference=0.9707, track_objective=share)
    openb.sense = "max"
    gap_row = Row("gap", "chu1997/c05100", "cold", 1.0, gap_pct=gap)
    return [synthetic, vbp, openb, gap_row]


def test_parse_reads_every_field() -> None:
    """Each [[threshold]] table becomes a Threshold with its bound's direction and note."""
    found = thresholds.parse(_TOML)
    assert [t.key for t in found][:2] == [
        ("synthetic", "S-seed1", "cold"),
        ("vbp", "class7_40_3_3", "cold"),
    ]
    first, second = found[0], found[1]
    assert (first.metric, first.limit, first.at_least) == ("pct_of_bound", 98.5, True)
    assert (second.metric, second.limit, second.at_least) == ("worse_than_reference", 1.0, False)
    assert first.note == "min of runs minus 0.5"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('track = "gap"\ninstance = "x"\nmetric = "gap_pct"\nat_most = 1\nnote = ""', "note"),
        ('track = "gap"\ninstance = "x"\nmetric = "speed"\nat_most = 1\nnote = "n"', "metric"),
        ('track = "gap"\ninstance = "x"\nmetric = "gap_pct"\nnote = "n"', "exactly one"),
        (
            'track = "gap"\ninstance = "x"\nmetric = "gap_pct"\nat_most = 1\nat_least = 0\n'
            'note = "n"',
            "exactly one",
        ),
        ('track = "gap"\ninstance = "x"\nmetric = "gap_pct"\nat_most = "1"\nnote = "n"', "number"),
    ],
)
def test_parse_rejects_malformed_entries(entry: str, message: str) -> None:
    """A missing note, unknown metric, absent or doubled bound, or non-number is refused."""
    with pytest.raises(ValueError, match=message):
        thresholds.parse("[[threshold]]\n" + entry)


def test_parse_rejects_a_duplicate() -> None:
    """The same row and metric given twice is an error, not a silent override."""
    entry = (
        '[[threshold]]\ntrack = "gap"\ninstance = "x"\nmetric = "gap_pct"\nat_most = 1\n'
        'note = "n"\n'
    )
    with pytest.raises(ValueError, match="twice"):
        thresholds.parse(entry + entry)


def test_passing_rows_have_no_breach() -> None:
    """Rows at or better than every limit pass, the report saying so."""
    outcome = thresholds.check(_rows(99.09, 18.0, 0.9660, 1.0), thresholds.parse(_TOML))
    assert not outcome.failed
    assert len(outcome.passed) == 4
    assert outcome.not_run == () and outcome.unchecked == ()
    assert "none: 4 thresholds met" in thresholds.report(outcome)


def test_breaches_are_detected_in_each_direction() -> None:
    """A low % of bound, a bin too many, a share too far below FGD and a large gap all breach."""
    outcome = thresholds.check(_rows(98.4, 19.0, 0.9650, 1.01), thresholds.parse(_TOML))
    assert outcome.failed
    breached = {(b.threshold.track, b.value) for b in outcome.breaches}
    assert {track for track, _ in breached} == {"synthetic", "vbp", "openb", "gap"}
    assert ("vbp", 2.0) in breached
    values = {b.threshold.track: b.value for b in outcome.breaches}
    assert values["openb"] == pytest.approx(0.0057)
    text = thresholds.report(outcome)
    assert text.startswith("== regressions ==")
    assert text.count("BREACH") == 4


def test_a_missing_value_is_a_breach_and_a_missing_row_is_not_run() -> None:
    """A row without the metric (e.g. a crashed instance) breaches; an absent row is 'not run'."""
    rows = _rows(99.0, 17.0, 0.98, 0.0)
    rows[0].pct_of_bound = None
    outcome = thresholds.check(rows[:3], thresholds.parse(_TOML))
    assert [(b.threshold.track, b.value) for b in outcome.breaches] == [("synthetic", None)]
    assert [t.track for t in outcome.not_run] == ["gap"]


def test_every_quick_instance_has_a_noted_threshold() -> None:
    """The recorded file covers every row of the quick subset, each with a non-empty note."""
    recorded = thresholds.load()
    keys = {t.key for t in recorded}
    expected = {
        ("synthetic", f"{size}-seed{seed}", "cold") for size in QUICK_SIZES for seed in QUICK_SEEDS
    }
    churn = f"S-seed{QUICK_SEEDS[0]}+churn0.01"
    expected |= {("synthetic", churn, "churn-cold"), ("synthetic", churn, "churn-warm")}
    expected |= {
        (track, name, "cold") for track, (names, _) in published.QUICK.items() for name in names
    }
    # The city simulator's quick run: a few measures of its policies (the suanchou headline is
    # not gated while it is "not reached": thresholds.toml says why).
    expected |= {("city", name, "quick") for name in ("separate", "suanchou", "kueue", "slurm")}
    assert expected <= keys
    assert keys <= expected  # no stale thresholds for instances the quick run no longer has
    assert all(t.note.strip() for t in recorded)
