"""Integer-stream parsing, compact matrices and the benchdata locator."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tracks import FormatError
from benchmarks.tracks.intfile import CompactRows, IntStream, RowsBuilder, read_ints, where
from tests.benchmarks.tracks.conftest import locate_benchdata


def test_read_ints_reports_file_line_and_column_of_a_bad_token(tmp_path: Path) -> None:
    """A non-integer token is reported with its file, line, column and index."""
    path = tmp_path / "bad.txt"
    path.write_text("1 2\n3 x4 5\n")
    with pytest.raises(FormatError, match=r"bad\.txt:2:3 \(integer #4\).*'x4'"):
        read_ints(path)


def test_where_points_past_the_end_when_the_stream_is_short(tmp_path: Path) -> None:
    """`where` names the end of the file for an index the file does not reach."""
    path = tmp_path / "short.txt"
    path.write_text("7\n8 9\n")
    assert where(path, 2).endswith("short.txt:2:3 (integer #3)")
    assert "end of file, integer #5 expected" in where(path, 4)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
def test_stream_matches_read_ints_across_chunk_boundaries(tmp_path: Path, chunk: int) -> None:
    """Tokens cut by a chunk boundary are reassembled, whatever the chunk size."""
    path = tmp_path / "ints.txt"
    path.write_text("12 345\n6789 0 1\t22\r\n-3 4444 5 6 7 8 9 0\n")
    expected = read_ints(path)
    with IntStream(path, chunk_bytes=chunk) as s:
        got = s.take(3, "head") + s.take(1, "one") + list(s.take_row(4, "row"))
        digits = s.take_row(6, "digits")
        assert isinstance(digits, bytes)
        got += list(digits)
        assert s.at_end()
        assert got == expected[:14]
        assert s.position == 14
        with pytest.raises(FormatError, match="file ends before more"):
            s.take(1, "more")


def test_take_row_returns_bytes_for_one_digit_rows(tmp_path: Path) -> None:
    """A row of one-digit values comes back as bytes 0..9 (the fast path), others as ints."""
    path = tmp_path / "rows.txt"
    path.write_text("0 1 2 9 10 3\n")
    with IntStream(path) as s:
        assert s.take_row(4, "a") == bytes([0, 1, 2, 9])
        assert s.take_row(2, "b") == [10, 3]


def test_rows_builder_widens_the_type_only_when_needed() -> None:
    """Rows start as bytes and widen to 16 and 64 bits as values require."""
    b = RowsBuilder()
    b.add(bytes([0, 1, 2]))
    b.add([3, 4, 5])
    assert b.build(3).flat.typecode == "B"
    b.add([300, 0, 1])
    b.add(bytes([1, 2, 3]))
    rows = b.build(3)
    assert rows.flat.typecode == "H"
    assert [list(r) for r in rows] == [[0, 1, 2], [3, 4, 5], [300, 0, 1], [1, 2, 3]]
    b.add([1 << 40, 0, 0])
    assert b.build(3).flat.typecode == "q"
    with pytest.raises(ValueError, match="negative"):
        b.add([0, -1, 0])


def test_compact_rows_is_a_sequence_of_rows_and_scales() -> None:
    """Rows index like a matrix, and scaling multiplies every entry, re-compacting as needed."""
    b = RowsBuilder()
    for row in ([0, 1, 2], [1, 0, 3], [2, 3, 0]):
        b.add(row)
    m = b.build(3)
    assert len(m) == 3 and m[1][2] == 3 and m[-1][0] == 2
    assert [list(r) for r in m[0:2]] == [[0, 1, 2], [1, 0, 3]]
    with pytest.raises(IndexError):
        m[3]
    assert m.scaled(1) is m
    small = m.scaled(10)
    assert small.flat.typecode == "B" and [list(r) for r in small] == [
        [0, 10, 20],
        [10, 0, 30],
        [20, 30, 0],
    ]
    wide = m.scaled(1000)
    assert wide.flat.typecode == "H" and wide[2][1] == 3000 and wide.top == 3000
    huge = m.scaled(1 << 40)
    assert huge.flat.typecode == "q" and huge[1][2] == 3 << 40 and huge.top == 3 << 40
    assert [list(r) for r in wide.scaled(7)] == [[7000 * v for v in r] for r in m]
    with pytest.raises(ValueError, match="64 bits"):
        m.scaled(1 << 62)
    assert m == b.build(3) and m != small
    with pytest.raises(ValueError, match="do not make rows"):
        CompactRows(m.flat, 2, 3)


def test_missing_benchdata_fails_under_ci_and_skips_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without data, CI=true turns the skip into a failure."""
    monkeypatch.setenv("SUANCHOU_BENCHDATA", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="benchmark data not found"):
        locate_benchdata()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        locate_benchdata()
    monkeypatch.setenv("SUANCHOU_BENCHDATA", str(tmp_path))
    assert locate_benchdata() == tmp_path
