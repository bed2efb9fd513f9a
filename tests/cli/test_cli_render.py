"""Readable output: CJK-aware alignment, local times and ages, and the JSON form."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from protos.suanchou.v1 import admin_pb2, types_pb2
from scheduler.cli import render
from scheduler.cli.clusters import cluster_table
from scheduler.cli.departments import department_table

NOW = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@pytest.fixture
def shanghai_time(monkeypatch):
    """Local time zone Asia/Shanghai (UTC+8) for the test, restored afterwards."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_display_width_counts_wide_and_combining_characters():
    """CJK characters take two columns, combining marks none, ASCII one."""
    assert render.display_width("公安局") == 6
    assert render.display_width("hz-1") == 4
    assert render.display_width("e\u0301") == 1
    assert render.display_width("ＡＢ") == 4


def test_department_table_aligns_chinese_names(shanghai_time):
    """Columns after Chinese names start at the same terminal column on every row."""
    departments = [
        admin_pb2.Department(name="公安局", display_name="市公安局", created_at=ts(NOW)),
        admin_pb2.Department(name="traffic", display_name="交通运输局", created_at=ts(NOW)),
        admin_pb2.Department(name="卫健委", display_name="", created_at=Timestamp()),
        admin_pb2.Department(name="公安局/网安", parent="公安局", created_at=ts(NOW)),
    ]
    lines = department_table(departments).splitlines()
    assert lines == [
        "NAME         DISPLAY NAME  PARENT  CREATED",
        "公安局       市公安局      -       2026-11-21 16:00:00",
        "traffic      交通运输局    -       2026-11-21 16:00:00",
        "卫健委       -             -       -",
        "公安局/网安  -             公安局  2026-11-21 16:00:00",
    ]
    created_columns = {render.display_width(line[: line.index("20")]) for line in lines[1:3]}
    assert created_columns == {lines[0].index("CREATED")}


def test_ages_are_coarse_and_never_negative():
    """Ages read "3s ago", "5m ago", "2h ago", "4d ago"; a future time reads "0s ago"."""
    assert render.age(ts(NOW - timedelta(seconds=3)), NOW) == "3s ago"
    assert render.age(ts(NOW - timedelta(minutes=5, seconds=59)), NOW) == "5m ago"
    assert render.age(ts(NOW - timedelta(hours=2)), NOW) == "2h ago"
    assert render.age(ts(NOW - timedelta(days=4)), NOW) == "4d ago"
    assert render.age(ts(NOW + timedelta(seconds=2)), NOW) == "0s ago"
    assert render.age(Timestamp(), NOW) == "never"


def test_cluster_table_sums_accelerators_and_shows_heartbeat_age():
    """The GPUS column sums every vendor device; HEARTBEAT is the age of the last sync."""
    cluster = admin_pb2.Cluster(
        spec=admin_pb2.ClusterSpec(name="hz-xc", region="hz", security_level=4, xinchuang=True),
        state=types_pb2.CLUSTER_STATE_CORDONED,
        capacity=types_pb2.Resources(
            quantities={"cpu": 8000, "memory": 1536, "huawei.com/ascend": 8, "nvidia.com/gpu": 2}
        ),
        allocated=types_pb2.Resources(quantities={"huawei.com/ascend": 3}),
        node_count=2,
        last_heartbeat=ts(NOW - timedelta(seconds=3)),
    )
    row = cluster_table([cluster], NOW).splitlines()[1].split()
    assert row == [
        "hz-xc", "hz", "-", "-", "4", "yes", "CORDONED", "2", "0/8", "0Mi/1536Mi", "3/10", "0",
        "3s", "ago",
    ]  # fmt: skip


def test_message_dict_uses_proto_names_enum_names_and_all_fields():
    """JSON output uses .proto field names, enum names, and shows fields left at their default."""
    job = types_pb2.Job(job_id="j1", department="公安局", state=types_pb2.JOB_STATE_RUNNING)
    data = render.message_dict(job)
    assert data["job_id"] == "j1"
    assert data["state"] == "JOB_STATE_RUNNING"
    assert data["attempt"] == 0 and data["runs"] == []
    assert '"公安局"' in render.dumps(data)
