"""`suanchou department create|get|allow-classes`, `quota set` and `priority-class` against
the real scheduler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protos.suanchou.v1 import admin_pb2
from scheduler.cli.main import main
from tests.integration.conftest import Pool, md, node


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_env(pool: Pool, monkeypatch: pytest.MonkeyPatch) -> Pool:
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_ADMIN_TOKEN", pool.admin_token)
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    monkeypatch.delenv("SUANCHOU_TOKEN", raising=False)
    return pool


def test_tree_quota_and_department_get(
    cli_env: Pool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin builds 交通局/信号处 and sets a 信创 quota triple with human units; `department
    get` prints quota, limits, usage and borrowed; a refused quota names the field."""
    pool = cli_env
    assert _run(capsys, "department", "create", "交通局", "--display-name", "交通运输局")[0] == 0
    code, out, _ = _run(
        capsys, "--json", "department", "create", "交通局/信号处", "--parent", "交通局"
    )
    assert code == 0 and json.loads(out)["department"]["display_name"] == "信号处"
    signals_token = json.loads(out)["token"]
    code, _, _ = _run(
        capsys, "quota", "set", "交通局", "--group", "xinchuang=true",
        "--nominal", "cpu=64,memory=256Gi", "--borrowing-limit", "cpu=32",
        "--lending-limit", "cpu=16",
    )  # fmt: skip
    assert code == 0
    stored = pool.departments.GetDepartment(
        admin_pb2.GetDepartmentRequest(name="交通局"), metadata=md(pool.admin_token)
    )
    [group] = stored.quotas
    assert dict(group.cluster_selector) == {"xinchuang": "true"}
    cpu, memory = group.resources
    assert (cpu.nominal, cpu.borrowing_limit, cpu.lending_limit) == (64000, 32000, 16000)
    assert memory.nominal == 262144 and not memory.HasField("borrowing_limit")
    code, out, _ = _run(capsys, "department", "get", "交通局")
    assert code == 0
    lines = out.splitlines()
    assert any(line.split()[:2] == ["parent:", "-"] for line in lines)
    row = next(
        line.split() for line in lines if line.startswith("xinchuang=true") and "cpu" in line
    )
    assert row == ["xinchuang=true", "cpu", "64", "32", "16", "0", "0", "0"]
    row = next(line.split() for line in lines if "memory" in line and "256Gi" in line)
    assert row[3:5] == ["unlimited", "all"]
    code, _, err = _run(
        capsys, "quota", "set", "交通局/信号处", "--group", "xinchuang=true", "--nominal", "cpu=65"
    )
    assert code == 1 and "quotas[0].nominal" in err and "交通局" in err
    code, _, err = _run(capsys, "quota", "set", "交通局", "--nominal", "cpu=lots")
    assert code == 2 and "--nominal" in err
    # A department token reads itself (no admin token configured).
    monkeypatch.delenv("SUANCHOU_ADMIN_TOKEN")
    monkeypatch.setenv("SUANCHOU_TOKEN", signals_token)
    code, out, _ = _run(capsys, "--json", "department", "get", "交通局/信号处")
    assert code == 0 and json.loads(out)["parent"] == "交通局"
    code, _, err = _run(capsys, "department", "get", "交通局")
    assert code == 1 and "NOT_FOUND" in err


def test_priority_classes_from_the_cli(
    cli_env: Pool, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An admin defines and lists classes and allows one to a department, whose job file
    naming it is submitted with the class's priority."""
    pool = cli_env
    code, out, _ = _run(
        capsys, "priority-class", "create", "urgent", "--value", "900", "--may-preempt",
        "--description", "应急",
    )  # fmt: skip
    assert code == 0 and "urgent" in out
    assert (
        _run(capsys, "priority-class", "create", "batch", "--value", "10", "--preemptible")[0] == 0
    )
    code, out, _ = _run(capsys, "priority-class", "list")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows == [["batch", "10", "yes", "no", "-"], ["urgent", "900", "no", "yes", "应急"]]
    token = pool.department("公安局")
    pool.cluster("gov-a", [node("n1")])
    code, out, _ = _run(capsys, "department", "allow-classes", "公安局", "urgent")
    assert code == 0 and out.strip() == "公安局 may use: urgent"
    job = tmp_path / "job.yaml"
    job.write_text("client_id: u1\npriority_class: urgent\nresources: {cpu: 1}\ncommand: [echo]\n")
    code, out, _ = _run(capsys, "--token", token, "--json", "job", "submit", str(job))
    assert code == 0, out
    [result] = json.loads(out)["results"]
    assert pool.get("公安局", result["job_id"]).spec.priority == 900
