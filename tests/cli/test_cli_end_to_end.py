"""The CLI against a real gRPC server on 127.0.0.1:0 running the fake servicers of conftest.py."""

from __future__ import annotations

import io
import json
import socket

import pytest

from protos.suanchou.v1 import types_pb2
from scheduler.cli import watch
from scheduler.cli.main import main


def test_submit_from_flags_sends_the_spec_with_the_department_token(scheduler, capsys):
    """`job submit` with flags sends one JobSpec with the department bearer token and prints it."""
    code = main(
        scheduler.job_args(
            "job", "submit", "--name", "n", "--cpu", "500m", "--client-id", "abc",
            "--", "python", "-c", "print(1)",
        )
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    (request,) = scheduler.recorder.requests["SubmitJobs"]
    assert request.items[0].resources.quantities["cpu"] == 500
    assert list(request.items[0].command) == ["python", "-c", "print(1)"]
    assert scheduler.recorder.tokens["SubmitJobs"] == [f"Bearer {scheduler.department_token}"]
    row = out.splitlines()[1].split()
    assert row == ["0", "abc", "job-new-1", "QUEUED"]


def test_submit_splits_2500_items_into_three_calls(scheduler, capsys, monkeypatch):
    """A 2,500-item file goes out as calls of 1,000, 1,000 and 500; indices count across calls."""
    items = "\n".join(
        f"  - {{client_id: c{i}, resources: {{cpu: 1}}, command: [echo]}}" for i in range(2500)
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(f"jobs:\n{items}\n"))
    code = main(scheduler.job_args("job", "submit", "-", "--json"))
    results = json.loads(capsys.readouterr().out)["results"]
    assert code == 0
    assert [len(r.items) for r in scheduler.recorder.requests["SubmitJobs"]] == [1000, 1000, 500]
    assert [r["index"] for r in results] == list(range(2500))
    assert results[1700]["client_id"] == "c1700"
    assert len({r["job_id"] for r in results}) == 2500


def test_submit_retries_a_batch_the_scheduler_could_not_take(scheduler, capsys, monkeypatch):
    """A batch refused with UNAVAILABLE is sent again (same client_ids) and every item lands."""
    monkeypatch.setattr("scheduler.cli.connection.RETRY_FIRST_DELAY_S", 0.0)
    scheduler.jobs.fail_submit_call = 1
    items = "\n".join("  - {resources: {cpu: 1}, command: [echo]}" for _ in range(1500))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"jobs:\n{items}\n"))
    code = main(scheduler.job_args("job", "submit", "-"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines()[-1] == "1500 item(s): 1500 queued"
    requests = scheduler.recorder.requests["SubmitJobs"]
    assert len(requests) == 3
    assert [i.client_id for i in requests[1].items] == [i.client_id for i in requests[2].items]


def test_submit_failing_midway_shows_what_was_committed(scheduler, capsys, monkeypatch):
    """If a later batch keeps failing, the committed items are printed and the rest named as not
    sent."""
    monkeypatch.setattr("scheduler.cli.connection.RETRY_FIRST_DELAY_S", 0.0)
    scheduler.jobs.fail_submit_call = 1
    scheduler.jobs.fail_submit_after = True
    items = "\n".join("  - {resources: {cpu: 1}, command: [echo]}" for _ in range(1500))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"jobs:\n{items}\n"))
    code = main(scheduler.job_args("job", "submit", "-"))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines()[-1] == "1000 item(s): 1000 queued"
    assert captured.err.strip() == (
        "error: UNAVAILABLE: scheduler restarting (items 1000-1499 were not submitted)"
    )


def test_submit_exits_1_when_an_item_is_rejected_or_invalid(scheduler, capsys, tmp_path):
    """Rejections, item errors and duplicates are all printed; a rejection or error exits 1."""
    job_file = tmp_path / "jobs.yaml"
    job_file.write_text(
        "jobs:\n"
        "  - {client_id: ok, resources: {cpu: 1}, command: [echo]}\n"
        "  - {client_id: strict, resources: {cpu: 1}, command: [echo],"
        " constraints: {min_security_level: 4}}\n"
        "  - {client_id: empty, resources: {cpu: 1}}\n"
        "  - {client_id: seen-before, resources: {cpu: 1}, command: [echo]}\n"
        "  - {client_id: stricter, resources: {cpu: 1}, command: [echo],"
        " constraints: {min_security_level: 5}}\n",
        encoding="utf-8",
    )
    code = main(scheduler.job_args("job", "submit", str(job_file)))
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[1].split()[3] == "QUEUED"
    assert "REJECTED" in lines[2] and "NO_ELIGIBLE_CLUSTER: no cluster has 等保 level 4" in lines[2]
    assert "ERROR" in lines[3] and "INVALID_ARGUMENT command: at least one element" in lines[3]
    assert "duplicate" in lines[4] and "job-0" in lines[4]
    assert lines[5].split()[2:5] == ["job-new-3", "REJECTED", "FAILED_PRECONDITION"]
    assert lines[-1] == "5 item(s): 1 duplicate, 1 error, 1 queued, 2 rejected"


def test_list_all_follows_next_page_token(scheduler, capsys):
    """`job list --all` keeps asking with next_page_token until the server returns none."""
    code = main(scheduler.job_args("job", "list", "--all", "--state", "queued", "--json"))
    listing = json.loads(capsys.readouterr().out)
    requests = scheduler.recorder.requests["ListJobs"]
    assert code == 0
    assert [r.page_token for r in requests] == ["", "3", "6"]
    assert all(list(r.states) == [types_pb2.JOB_STATE_QUEUED] for r in requests)
    assert [j["job_id"] for j in listing["jobs"]] == [f"job-{n}" for n in range(7)]
    assert listing["more"] is False


def test_list_limit_stops_early_and_says_more_exist(scheduler, capsys):
    """`--limit 5` asks only for what it still needs, prints 5 rows and notes that more exist."""
    code = main(scheduler.job_args("job", "list", "--limit", "5"))
    captured = capsys.readouterr()
    requests = scheduler.recorder.requests["ListJobs"]
    assert code == 0
    assert [r.page_size for r in requests] == [5, 2]
    assert len(captured.out.splitlines()) == 1 + 5
    assert "报表-4" in captured.out and "报表-5" not in captured.out
    assert "more exist" in captured.err


def test_watch_resumes_after_unavailable_from_the_last_event_id(scheduler, capsys, monkeypatch):
    """On UNAVAILABLE the watch backs off and resumes after the last event id, losing nothing."""
    delays: list[float] = []
    monkeypatch.setattr(watch, "sleep", delays.append)
    scheduler.jobs.fail_watch_after = 2
    code = main(scheduler.job_args("job", "watch", "--job-set", "nightly", "--no-follow"))
    captured = capsys.readouterr()
    requests = scheduler.recorder.requests["WatchEvents"]
    assert code == 0
    assert [r.after_event_id for r in requests] == [0, 2]
    assert all(r.job_set == "nightly" and not r.follow for r in requests)
    assert delays == [watch.INITIAL_BACKOFF_SECONDS]
    event_ids = [line.split()[2] for line in captured.out.splitlines()[1:]]
    assert event_ids == ["1", "2", "3", "4"]
    assert "reconnecting" in captured.err and "after event 2" in captured.err


def test_watch_without_follow_gives_up_when_the_scheduler_stays_down(capsys, monkeypatch):
    """A --no-follow watch retries a bounded number of times, then fails with UNAVAILABLE."""
    delays: list[float] = []
    monkeypatch.setattr(watch, "sleep", delays.append)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    code = main(
        ["--scheduler", f"127.0.0.1:{closed_port}", "--token", "t", "job", "watch", "--no-follow"]
    )
    assert code == 1
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: UNAVAILABLE: ")


def test_watch_json_prints_one_event_per_line(scheduler, capsys):
    """`job watch --json` prints JSON lines with the exit code of the finished event."""
    code = main(scheduler.job_args("job", "watch", "--after", "2", "--no-follow", "--json"))
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert [e["event_id"] for e in events] == ["3", "4"]
    assert events[-1]["state"] == "JOB_STATE_SUCCEEDED" and events[-1]["exit_code"] == 0


def test_watch_ctrl_c_exits_0(scheduler, monkeypatch):
    """Ctrl-C while watching ends the command with exit code 0."""

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(watch, "stream_events", interrupted)
    assert main(scheduler.job_args("job", "watch")) == 0


def test_explain_renders_the_verdict_and_a_cluster_table(scheduler, capsys):
    """`job explain` prints the job's reason and one aligned row per cluster verdict."""
    code = main(scheduler.job_args("job", "explain", "job-3"))
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[2] == "Reason:    INSUFFICIENT_CAPACITY"
    header = lines.index("CLUSTER   ELIGIBLE  REASON                 MESSAGE")
    assert lines[header + 1] == "hz-gov-1  yes       INSUFFICIENT_CAPACITY  needs 2 more cpu"
    assert lines[header + 2] == "sh-cloud  no        REGION                 region sh not in [hz]"


def test_get_unknown_job_prints_the_grpc_code_and_exits_1(scheduler, capsys):
    """A gRPC error is printed as `error: <code>: <details>` on stderr with exit code 1."""
    code = main(scheduler.job_args("job", "get", "nope"))
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == "error: NOT_FOUND: job nope not found"
    assert captured.out == ""


def test_get_shows_spec_and_runs(scheduler, capsys):
    """`job get` prints the spec in human units and the state with its reason."""
    code = main(scheduler.job_args("job", "get", "job-2"))
    out = capsys.readouterr().out
    assert code == 0
    assert "Resources:   cpu=1 per replica" in out
    assert "State:       QUEUED" in out and "Command:     echo 2" in out
    assert "Runs: none" in out


def test_cancel_reports_per_item_errors(scheduler, capsys):
    """`job cancel` sends ids and reason in one call, prints each result, exits 1 on an error."""
    code = main(scheduler.job_args("job", "cancel", "job-1", "ghost", "--reason", "rerun"))
    out = capsys.readouterr().out
    (request,) = scheduler.recorder.requests["CancelJobs"]
    assert code == 1
    assert list(request.job_ids) == ["job-1", "ghost"] and request.reason == "rerun"
    assert "job-1   CANCELLED" in out and "NOT_FOUND: no such job" in out


def test_department_create_prints_token_once_with_admin_token(scheduler, capsys):
    """`department create` sends the admin token and prints the new token with a shown-once note."""
    code = main(
        scheduler.admin_args("department", "create", "公安局", "--display-name", "市公安局")
    )
    out = capsys.readouterr().out
    (request,) = scheduler.recorder.requests["CreateDepartment"]
    assert code == 0
    assert (request.name, request.display_name) == ("公安局", "市公安局")
    assert scheduler.recorder.tokens["CreateDepartment"] == [f"Bearer {scheduler.admin_token}"]
    assert "token: dept-secret-9" in out
    assert "shown only this once" in out


def test_department_list_json_keeps_chinese_readable(scheduler, capsys):
    """`department list --json` prints proto field names and unescaped Chinese text."""
    main(scheduler.admin_args("department", "create", "公安局", "--display-name", "市公安局"))
    capsys.readouterr()
    code = main(["department", "list", "--json", *scheduler.admin_args()])
    out = capsys.readouterr().out
    assert code == 0
    assert "公安局" in out
    assert json.loads(out)["departments"][0]["display_name"] == "市公安局"


def test_cluster_register_sends_spec_and_prints_agent_token(scheduler, capsys):
    """`cluster register` puts --price and --label into the ClusterSpec and shows the token."""
    code = main(
        scheduler.admin_args(
            "cluster", "register", "hz-gov-1", "--region", "hz", "--zone", "hz-a",
            "--provider", "gov-cloud", "--security-level", "3", "--xinchuang",
            "--price", "cpu=0.05,memory=0.01,nvidia.com/gpu=8", "--label", "owner=数据局",
        )
    )  # fmt: skip
    out = capsys.readouterr().out
    (request,) = scheduler.recorder.requests["RegisterCluster"]
    assert code == 0
    assert dict(request.spec.price) == {"cpu": 0.05, "memory": 0.01, "nvidia.com/gpu": 8.0}
    assert dict(request.spec.labels) == {"owner": "数据局"}
    assert request.spec.xinchuang and request.spec.security_level == 3
    assert "agent token: agent-secret-1" in out


def test_cluster_list_and_get_show_human_units(scheduler, capsys):
    """`cluster list` and `cluster get` show allocated/capacity as cores, Gi and device counts."""
    assert main(scheduler.admin_args("cluster", "list")) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == [
        "NAME", "REGION", "ZONE", "PROVIDER", "等保", "信创", "STATE", "NODES", "CPU", "MEMORY",
        "GPUS", "RUNS", "HEARTBEAT",
    ]  # fmt: skip
    assert listing[1].split() == [
        "hz-gov-1", "hz", "hz-a", "gov-cloud", "3", "-", "ACTIVE", "1", "2500m/16", "4Gi/64Gi",
        "1/8", "2", "never",
    ]  # fmt: skip
    assert main(scheduler.admin_args("cluster", "get", "hz-gov-1")) == 0
    detail = capsys.readouterr().out
    assert "Capacity:       cpu=16,memory=64Gi,nvidia.com/gpu=8" in detail
    assert "node-a  2500m/16  0Mi/64Gi  0/8             arch=x86_64" in detail


def test_cluster_deregister_refused_then_drained(scheduler, capsys):
    """Without --drain a busy cluster's refusal is an error; with --drain it reports DRAINING."""
    assert main(scheduler.admin_args("cluster", "deregister", "hz-gov-1")) == 1
    assert "error: FAILED_PRECONDITION: cluster has 2 active runs" in capsys.readouterr().err
    assert main(scheduler.admin_args("cluster", "deregister", "hz-gov-1", "--drain")) == 0
    assert "is DRAINING" in capsys.readouterr().out
    assert [r.drain for r in scheduler.recorder.requests["DeregisterCluster"]] == [False, True]


def test_wrong_token_is_reported_as_unauthenticated(scheduler, capsys):
    """Job commands send the department token, so an admin token alone is refused by the server."""
    code = main(["--scheduler", scheduler.address, "--token", "wrong", "job", "get", "job-1"])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: UNAUTHENTICATED:")


@pytest.mark.parametrize("command", [["job", "list"], ["cluster", "list"]])
def test_missing_token_is_a_local_error_naming_flag_and_variable(scheduler, capsys, command):
    """Without the needed token nothing is sent and the message names the flag and variable."""
    code = main(["--scheduler", scheduler.address, *command])
    err = capsys.readouterr().err
    assert code == 1
    assert scheduler.recorder.requests == {}
    assert ("--token" in err and "SUANCHOU_TOKEN" in err) or (
        "--admin-token" in err and "SUANCHOU_ADMIN_TOKEN" in err
    )
