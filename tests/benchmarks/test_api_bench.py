"""The API benchmark (`--track api`) at tiny sizes: a real server process, real gRPC clients and
simulated Sync agents produce every phase's rows, files and plots, and every job is accounted
for. No timing is asserted: the machine is shared."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.__main__ import parse_tracks
from benchmarks.api.__main__ import main
from benchmarks.api.report import Row, keeps_up, percentile, verdicts
from tests.conftest import postgres_url

TINY = [
    "--quick",
    "--clients", "1,3",
    "--unary-seconds", "1",
    "--batch-calls", "1",
    "--rates", "20",
    "--lease-seconds", "2",
    "--levels", "300,1200",
    "--probe-calls", "5",
]  # fmt: skip


def _check(out: Path, database: str) -> None:
    document = json.loads((out / "results.json").read_text())
    assert document["format_version"] == 1
    assert document["machine"]["load_avg_1m"]
    rows = [Row(**r) for r in document["rows"]]
    assert {r.database for r in rows} == {database}
    assert [(r.phase, r.level) for r in rows] == [
        ("unary", 1), ("unary", 3), ("batch", 1000), ("lease", 20), ("queue", 300),
        ("queue", 1200),
    ]  # fmt: skip
    for r in rows:
        assert r.errors == 0, (r.phase, r.level, r.error_codes)
        assert r.rate > 0, (r.phase, r.level)
        assert r.jobs_acked > 0 and r.jobs_stored == r.jobs_acked, (r.phase, r.level)
        assert 0 < r.rss_mib <= r.hwm_mib
        assert r.server_cpu_s >= 0
        if r.p50_ms is not None:
            assert r.p99_ms is not None and 0 < r.p50_ms <= r.p99_ms
    unary = [r for r in rows if r.phase == "unary"]
    assert all(r.calls == r.jobs_acked for r in unary)  # one job per call
    (batch,) = (r for r in rows if r.phase == "batch")
    assert batch.jobs_acked == 2000  # one 1,000-job call from each of the 2 clients
    (lease,) = (r for r in rows if r.phase == "lease")
    assert lease.leased is not None and 0 < lease.leased <= lease.jobs_acked
    if lease.drain_s is not None:  # the queue emptied (a loaded machine may take longer)
        assert lease.leased == lease.jobs_acked  # so every job reached LEASED
    assert lease.kept_up is not None
    assert lease.delivered_p50_ms is not None and lease.p50_ms is not None
    assert lease.delivered_p99_ms is not None and lease.p99_ms is not None
    queued = [r for r in rows if r.phase == "queue"]
    assert [r.jobs_acked >= r.level for r in queued] == [True, True]
    for r in queued:
        assert r.get_p50_ms is not None and r.get_p99_ms is not None
        assert r.list_p50_ms is not None and r.list_p99_ms is not None
        assert 0 < r.get_p50_ms <= r.get_p99_ms and 0 < r.list_p50_ms <= r.list_p99_ms
        assert r.cycles and r.cycle_p50_ms is not None and r.cycle_max_ms is not None
        assert r.cycle_p50_ms <= r.cycle_max_ms
    samples = document["queue_samples"]
    assert samples and all(s["rate"] == 20 and s["queued"] >= 0 for s in samples)
    assert document["targets"] and all(database in line for line in document["targets"])
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    for name in (
        "api-unary.png",
        "api-unary-p99.png",
        "api-queue-length.png",
        "api-queue-depth.png",
    ):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert "== " + database + ": lease ==" in (out / "table.txt").read_text()


@pytest.mark.slow
def test_quick_run_on_sqlite_accounts_for_every_job(tmp_path: Path) -> None:
    """On SQLite, every phase yields a row with positive rates, ordered percentiles and every
    acknowledged job stored, plus the CSV/JSON files and the four plots."""
    assert main([*TINY, "--databases", "sqlite", "--out", str(tmp_path)]) == 0
    _check(tmp_path, "sqlite")


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_run_on_postgres_accounts_for_every_job(tmp_path: Path) -> None:
    """The same on PostgreSQL, each group on a database of its own created on the server."""
    url = postgres_url()
    args = [*TINY, "--databases", "postgresql", "--postgres-url", url, "--out", str(tmp_path)]
    assert main(args) == 0
    _check(tmp_path, "postgresql")


def test_api_is_a_named_track_outside_all() -> None:
    """`--track api` selects the API benchmark; `all` (the placement tracks) leaves it out."""
    assert parse_tracks("api") == ("api",)
    assert "api" not in parse_tracks("all")


def test_percentiles_and_keeping_up() -> None:
    """Nearest-rank percentiles; keeping up means a short backlog at the end that drains."""
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0
    assert keeps_up(200, 300, 1.0)
    assert not keeps_up(200, 1000, 1.0)  # five seconds of arrivals still queued
    assert not keeps_up(200, 10, None)  # never drained


def test_verdicts_name_the_miss_factor() -> None:
    """A target missed is reported with the factor by which it was missed."""
    row = Row("sqlite", "unary", 8, 10.0, 1000, 1000, 1000, 0, "", 100.0, p50_ms=20.0, p99_ms=100.0)
    lines = verdicts([row])
    assert any("unary rate" in line and "MISSED x20.0" in line for line in lines)
    assert any("unary p99_ms" in line and "MISSED x2.0" in line for line in lines)
    assert any("lease 200" in line and "not measured" in line for line in lines)
