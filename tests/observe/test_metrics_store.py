"""Metrics fed by a real store: committed job moves become counters, queued jobs' reasons stay
within the vocabulary, quantities are in base units."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from scheduler.domain.models import Job, JobSpec
from scheduler.domain.states import JobState
from scheduler.observe.metrics import Metrics
from scheduler.observe.units import base_unit
from scheduler.service.clock import SystemClock
from scheduler.service.liveness import Liveness
from scheduler.state import Store

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
QUEUED_AT = (JobState.QUEUED, NOW, NOW)


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_committed_moves_count_and_unknown_reasons_are_other(tmp_path: Path) -> None:
    """A lease, a lost lease and a preemption count once each after their commits; a queued
    job whose stored reason is outside the vocabulary is counted under OTHER."""
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    metrics = Metrics(store, Liveness(), SystemClock())
    store.after_commit = metrics.committed
    with store.unit() as tx:
        tx.departments.create("公安局", "公安局", NOW)
        spec = JobSpec(client_id="a", command=("true",), resources={"cpu": 500})
        job = tx.jobs.insert(Job("j1", "公安局", spec, *QUEUED_AT))
        other = tx.jobs.insert(Job("j2", "公安局", replace(spec, client_id="b"), *QUEUED_AT))
        tx.jobs.set_reasons([(other, "FROM_A_NEWER_VERSION", "?")], NOW)
    for to, reason in [
        (JobState.LEASED, "PLACED"),
        (JobState.QUEUED, "LEASE_LOST"),
        (JobState.LEASED, "PLACED"),
        (JobState.QUEUED, "PREEMPTED"),
    ]:
        with store.unit() as tx:
            moved = tx.jobs.move(job, to, reason=reason, message="test", now=NOW)
            assert moved is not None
            job = moved
    samples = _samples(metrics)
    assert samples[("suanchou_placements_total", frozenset())] == 2
    assert samples[("suanchou_requeues_total", frozenset({("reason", "LEASE_LOST")}))] == 1
    assert samples[("suanchou_requeues_total", frozenset({("reason", "PREEMPTED")}))] == 1
    assert samples[("suanchou_preemptions_total", frozenset())] == 1
    pending = {
        labels: v for (name, labels), v in samples.items() if name == "suanchou_pending_jobs"
    }
    assert pending == {
        frozenset({("department", "公安局"), ("reason", "OTHER")}): 1,
        frozenset({("department", "公安局"), ("reason", "PREEMPTED")}): 1,
    }
    store.dispose()


def test_quantities_are_reported_in_base_units() -> None:
    """Millicores become cores, MiB bytes, device thousandths devices; other names counts."""
    assert base_unit("cpu", 1500) == (1.5, "core")
    assert base_unit("memory", 2) == (2 * 1024 * 1024, "byte")
    assert base_unit("nvidia.com/gpu", 250) == (0.25, "device")
    assert base_unit("example.com/fpga", 3) == (3.0, "count")
