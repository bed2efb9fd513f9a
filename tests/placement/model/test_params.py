"""EngineParams read from a TOML file: fields and weights set, everything else bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.placement import EngineParams, ObjectiveWeights
from scheduler.placement.model.params import FILE_MAX_BYTES


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_sets_its_fields_and_keeps_the_defaults(tmp_path: Path) -> None:
    """Fields and [weights] the file names are read; the others keep their defaults."""
    path = _file(
        tmp_path,
        "time_limit_s = 5\ndeterministic = false\nworkers = 4\ngap_target = 0.001\n"
        "[weights]\nmoney = 3\nwork = 7\n",
    )
    params = EngineParams.from_toml(path)
    assert params == EngineParams(
        time_limit_s=5,
        deterministic=False,
        workers=4,
        gap_target=0.001,
        weights=ObjectiveWeights(money=3, work=7),
    )
    assert EngineParams.from_toml(_file(tmp_path, "")) == EngineParams()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers = 0", "workers must be in [1, 64], got 0"),
        ("workers = true", "workers must be an integer, got True"),
        ("use_lp = 1", "use_lp must be true or false, got 1"),
        ("time_limit_s = 'x'", "time_limit_s must be a number, got 'x'"),
        ("time_limit_s = nan", "time_limit_s must be in [0, 86400], got nan"),
        ("time_limit_s = 0", "time_limit_s must be > 0"),
        ("gap_target = 1", "gap_target must be in [0, 1)"),
        ("speed = 3", "unknown field 'speed'"),
        ("weights = 3", "weights must be a table, got 3"),
        ("[weights]\nmoney = -1", "weights.money must be in [0, 1073741824], got -1"),
        ("[weights]\ncolour = 1", "unknown field 'weights.colour'"),
        ("seed = 4294967296", "seed must be in [0, 2147483647], got 4294967296"),
    ],
)
def test_each_error_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    """A wrong type, a value out of bounds or an unknown field is refused, naming the field."""
    with pytest.raises(ValueError, match="engine params file: ") as info:
        EngineParams.from_toml(_file(tmp_path, text))
    assert message in str(info.value)


def test_long_values_are_quoted_by_a_short_prefix(tmp_path: Path) -> None:
    """An error quotes at most a short prefix of a long value or field name."""
    for text in (f"workers = '{'w' * 5000}'", f"{'k' * 5000} = 1"):
        with pytest.raises(ValueError) as info:
            EngineParams.from_toml(_file(tmp_path, text))
        assert len(str(info.value)) < 120


def test_a_file_too_large_or_not_toml_is_refused(tmp_path: Path) -> None:
    """The file is read up to a bound, and must be TOML."""
    big = _file(tmp_path, "# " + "x" * FILE_MAX_BYTES + "\n")
    with pytest.raises(ValueError, match=f"larger than {FILE_MAX_BYTES} bytes"):
        EngineParams.from_toml(big)
    with pytest.raises(ValueError, match="not UTF-8 TOML"):
        EngineParams.from_toml(_file(tmp_path, "workers = = 3"))
