"""What a department sends is never silently read as something else, over the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protos.suanchou.v1 import jobs_pb2
from scheduler.cli.main import main
from tests.integration.conftest import Pool, md, py_job


def test_explicit_zero_replicas_and_max_runtime_are_refused(pool: Pool) -> None:
    """`replicas: 0` and `max_runtime_seconds: 0` are INVALID_ARGUMENT naming the field; unset
    they mean 1 and the scheduler default."""
    pool.department("公安局")
    results = pool.submit(
        "公安局",
        py_job("zero-replicas", "pass", replicas=0),
        py_job("zero-runtime", "pass", max_runtime_seconds=0),
        py_job("defaults", "pass"),
    )
    assert [(r.error.code, r.error.field) for r in results[:2]] == [
        ("INVALID_ARGUMENT", "replicas"),
        ("INVALID_ARGUMENT", "max_runtime_seconds"),
    ]
    assert not results[0].job_id and not results[1].job_id
    job = pool.get("公安局", results[2].job_id)
    assert job.spec.replicas == 1 and not job.spec.HasField("max_runtime_seconds")


def test_the_cli_sends_zero_through_so_the_server_refuses_it(
    pool: Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job file with `replicas: 0` or `max_runtime: 0` reaches the server and is refused."""
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", pool.department("公安局"))
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n"
        '  - {client_id: a, replicas: 0, resources: {cpu: 1}, command: ["true"]}\n'
        '  - {client_id: b, max_runtime: 0, resources: {cpu: 1}, command: ["true"]}\n'
    )
    assert main(["--json", "job", "submit", str(path)]) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["error"]["field"] for r in results] == ["replicas", "max_runtime_seconds"]
    listed = pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md(pool.tokens["公安局"]))
    assert list(listed.jobs) == []


def test_reusing_a_client_id_for_another_spec_is_already_exists(pool: Pool) -> None:
    """Over the API, a client_id reused with a different spec is ALREADY_EXISTS on client_id
    naming the first job; the same spec again is a duplicate."""
    pool.department("公安局")
    [first] = pool.submit("公安局", py_job("nightly", "print(1)"))
    [other, same] = pool.submit(
        "公安局", py_job("nightly", "print(2)"), py_job("nightly", "print(1)")
    )
    assert other.error.code == "ALREADY_EXISTS" and other.error.field == "client_id"
    assert first.job_id in other.error.message and not other.job_id
    assert same.duplicate and same.job_id == first.job_id
