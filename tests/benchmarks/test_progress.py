"""Progress: a bar redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from benchmarks.progress import Progress
from benchmarks.report import Row


def _row(name: str, failed: bool = False) -> Row:
    row = Row("gap", name, "cold", 1.0, engine_s=0.25)
    row.track_objective, row.gap_pct = 10.0, 0.0
    if failed:
        row.failures.append("boom")
    return row


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(2, stream, tty=False)
    progress(_row("a"))
    progress(_row("b", failed=True))
    progress.close()
    assert stream.getvalue().splitlines() == [
        "[1/2] ok: gap a, objective 10, gap 0.000%, 0.25 s",
        "[2/2] FAILED: gap b, objective 10, gap 0.000%, 0.25 s",
    ]


def test_bar_redraws_in_place_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(2, stream, tty=True)
    progress(_row("a"))
    progress(_row("b", failed=True))
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[############............] 1/2" in text
    assert "2/2" in text and "1 failed" in text
