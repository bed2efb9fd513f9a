"""benchmarks/engine_identity.py: the digests of a deterministic run repeat, a changed answer
is reported."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import engine_identity


def test_a_second_run_has_the_same_digests(tmp_path: Path) -> None:
    """Two runs of the small random cases write the same digests and the comparison passes."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert engine_identity.main(["--out", str(first), "--only", "random-0"]) == 0
    args = ["--out", str(second), "--only", "random-0", "--compare", str(first)]
    assert engine_identity.main(args) == 0
    rows = json.loads(first.read_text())
    assert sorted(rows) == [f"random-0{k}" for k in range(10)]
    assert rows == {
        k: {**v, "wall_s": rows[k]["wall_s"]} for k, v in json.loads(second.read_text()).items()
    }


def test_a_changed_digest_fails_the_comparison(tmp_path: Path) -> None:
    """A digest that differs from the earlier run's makes the comparison exit 1."""
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    assert engine_identity.main(["--out", str(before), "--only", "random-01"]) == 0
    rows = json.loads(before.read_text())
    rows["random-01"]["digest"] = "0" * 64
    before.write_text(json.dumps(rows))
    args = ["--out", str(after), "--only", "random-01", "--compare", str(before)]
    assert engine_identity.main(args) == 1
