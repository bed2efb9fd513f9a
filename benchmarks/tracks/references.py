"""Published reference values: GAP and ROADEF `best_known.csv`, VBP `Panigrahy_summary_known.tsv`.

All three tracks minimise. Each table becomes `{instance name: Reference}` with the same names
the track's `instances(root)` gives; every numeric column is kept under its own name in
`values`, text columns (e.g. a source's status) in `notes`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import FormatError


@dataclass(frozen=True)
class Reference:
    """Reference values of one instance (None where the source gives none)."""

    instance: str
    lower_bound: int | None = None
    optimum: int | None = None
    best_known: int | None = None
    values: tuple[tuple[str, int], ...] = ()
    notes: tuple[tuple[str, str], ...] = ()

    def value(self, column: str) -> int | None:
        """A published column by its header name, e.g. `s41_challenge_300s`, `best_overall`."""
        return dict(self.values).get(column)


def _rows(
    path: Path, delimiter: str, required: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; FormatError when a required column is missing."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reference table not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise FormatError(f"{path}:1: missing column(s) {', '.join(missing)}")
        return [(reader.line_num, row) for row in reader]


def _split(path: Path, line: int, row: dict[str, str], key: str) -> Reference:
    values: list[tuple[str, int]] = []
    notes: list[tuple[str, str]] = []
    for column, text in row.items():
        if column == key or column is None or text is None or text == "":
            continue
        try:
            values.append((column, int(text)))
        except ValueError:
            notes.append((column, text))
    name = row[key]
    if not name:
        raise FormatError(f"{path}:{line}: empty {key}")
    return Reference(instance=name, values=tuple(values), notes=tuple(notes))


def _optional(ref: Reference, column: str, unknown: int | None = None) -> int | None:
    value = ref.value(column)
    return None if value == unknown else value


def gap(root: Path) -> dict[str, Reference]:
    """GAP: `min_optimum` (proven; empty when open), `min_best_bound`, `min_best_known`."""
    path = root / "gap" / "best_known.csv"
    out: dict[str, Reference] = {}
    for line, row in _rows(path, ",", ("file", "min_best_bound", "min_optimum", "min_best_known")):
        ref = _split(path, line, row, "file")
        out[ref.instance] = Reference(
            instance=ref.instance,
            lower_bound=ref.value("min_best_bound"),
            optimum=ref.value("min_optimum"),
            best_known=ref.value("min_best_known"),
            values=ref.values,
            notes=ref.notes,
        )
    return out


def vbp(root: Path) -> dict[str, Reference]:
    """VBP: `LB`, `OPT` (-1 = unknown), best known = OPT if proven else `best_overall` (the
    best of all heuristics in the paper, kept as value("best_overall"))."""
    path = root / "vbp" / "Panigrahy_summary_known.tsv"
    out: dict[str, Reference] = {}
    for line, row in _rows(path, "\t", ("instance_name", "LB", "OPT", "best_overall")):
        ref = _split(path, line, row, "instance_name")
        optimum = _optional(ref, "OPT", unknown=-1)
        out[ref.instance] = Reference(
            instance=ref.instance,
            lower_bound=ref.value("LB"),
            optimum=optimum,
            best_known=optimum if optimum is not None else ref.value("best_overall"),
            values=ref.values,
            notes=ref.notes,
        )
    return out


def roadef(root: Path) -> dict[str, Reference]:
    """ROADEF 2012: `lower_bound_aggregate`, `reference_best` (best known), and by name
    `initial_cost` and `s41_challenge_300s` (the winner's 300-s result)."""
    path = root / "roadef2012" / "best_known.csv"
    out: dict[str, Reference] = {}
    required = ("instance", "initial_cost", "lower_bound_aggregate", "reference_best")
    for line, row in _rows(path, ",", required):
        ref = _split(path, line, row, "instance")
        out[ref.instance] = Reference(
            instance=ref.instance,
            lower_bound=ref.value("lower_bound_aggregate"),
            best_known=ref.value("reference_best"),
            values=ref.values,
            notes=ref.notes,
        )
    return out
