"""`suanchou demo` works on a fresh install with nothing set up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_exits_zero_with_summary_line() -> None:
    """The demo runs every accepted job to success and ends with the summary line."""
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli.main", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"demo: (\d+) submitted, (\d+) accepted, (\d+) succeeded, "
        r"0 failed, (\d+) rejected",
        last,
    )
    assert match, last
    submitted, accepted, succeeded, rejected = map(int, match.groups())
    assert submitted == accepted + rejected and accepted == succeeded
    assert submitted >= 18 and rejected >= 1
    # Constraints sent jobs to every cluster.
    for cluster in ("xc-gov", "gov-cloud", "gpu-hz"):
        assert f" {cluster} " in proc.stdout
