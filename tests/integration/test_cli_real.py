"""The `suanchou` CLI against the real scheduler and a real agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.cli.main import main
from tests.integration.conftest import Pool

JOB_FILE = """
jobs:
  - client_id: report-1
    name: traffic-report
    replicas: 2
    resources: {cpu: 500m, memory: 128Mi}
    command: [python3, -c, "print('report done')"]
    constraints: {min_security_level: 3}
  - client_id: secret-1
    name: secret
    resources: {cpu: 1, memory: 64Mi}
    command: ["true"]
    constraints: {min_security_level: 4}
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_cli_admin_and_department_flow(
    pool: Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin creates a department and cluster, a department submits, lists and explains."""
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_ADMIN_TOKEN", pool.admin_token)
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    code, out = _run(
        capsys, "--json", "department", "create", "公安局", "--display-name", "市公安局"
    )
    assert code == 0
    monkeypatch.setenv("SUANCHOU_TOKEN", json.loads(out)["token"])
    code, out = _run(
        capsys,
        "--json",
        "cluster",
        "register",
        "xc-gov",
        "--region",
        "hangzhou",
        "--security-level",
        "3",
        "--xinchuang",
        "--price",
        "cpu=0.08,memory=0.02",
    )
    assert code == 0
    pool.tokens["xc-gov"] = json.loads(out)["agent_token"]
    (pool.tmp / "xc-gov.yaml").write_text(
        "nodes:\n  - name: kunpeng\n    capacity: {cpu: 4, memory: 8Gi}\n"
        "    labels: {arch: aarch64}\n"
    )
    pool.start_agent("xc-gov")

    job_file = tmp_path / "jobs.yaml"
    job_file.write_text(JOB_FILE)
    code, out = _run(capsys, "--json", "job", "submit", str(job_file))
    assert code == 1  # one item was rejected
    results = json.loads(out)["results"]
    assert [r.get("state") for r in results] == ["JOB_STATE_QUEUED", "JOB_STATE_REJECTED"]
    job_id = results[0]["job_id"]
    pool.wait_for(lambda: _state(capsys, job_id) == "JOB_STATE_SUCCEEDED", 30, "the job to succeed")

    code, out = _run(capsys, "job", "explain", job_id)
    assert code == 0 and "CHOSEN" in out and "xc-gov" in out
    code, out = _run(capsys, "job", "list", "--state", "SUCCEEDED")
    assert code == 0 and "traffic-report" in out
    code, out = _run(capsys, "cluster", "list")
    assert code == 0 and "xc-gov" in out and "信创" in out
    code, out = _run(capsys, "--json", "job", "submit", str(job_file))
    assert all(r.get("duplicate") for r in json.loads(out)["results"])
    code, out = _run(capsys, "job", "watch", "--no-follow", "--job", job_id)
    assert code == 0 and "SUCCEEDED" in out and "LEASED" in out


def _state(capsys: pytest.CaptureFixture[str], job_id: str) -> str:
    code, out = _run(capsys, "--json", "job", "get", job_id)
    assert code == 0
    return str(json.loads(out)["state"])
