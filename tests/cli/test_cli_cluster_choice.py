"""Tolerations and cluster choice from a job file and from `job submit` flags, their display
in `job get`, and node taints in `cluster get`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protos.suanchou.v1 import admin_pb2, types_pb2
from scheduler.cli.clusters import cluster_detail
from scheduler.cli.jobfile import JobFileError, load_jobs
from scheduler.cli.jobfile_placement import toleration_text
from scheduler.cli.jobs import job_detail
from scheduler.cli.main import parse_args
from scheduler.cli.submit import specs_from_args

T = types_pb2.Toleration
EXPECTED = [
    T(key="dedicated", operator="Equal", value="gpu", effect="NoSchedule"),
    T(key="spot", operator="Exists"),
    T(operator="Exists", effect="NoExecute"),
]


def test_file_keys_and_flags_give_the_same_constraints() -> None:
    """tolerations (string forms), clusters, preferred_clusters and cluster_selector read alike
    from a job file and from --toleration, --cluster (repeatable), --prefer-cluster (comma
    list, in order) and --cluster-selector."""
    text = (
        "command: [x]\n"
        "constraints: {tolerations: [dedicated=gpu:NoSchedule, spot, '*:NoExecute'],\n"
        "              clusters: [a, b], preferred_clusters: [b, a],\n"
        "              cluster_selector: {owner: 交通局}}\n"
    )
    [from_file] = load_jobs(text, "f.yaml")
    argv = ["job", "submit", "--toleration", "dedicated=gpu:NoSchedule", "--toleration", "spot"]
    argv += ["--toleration", "*:NoExecute", "--cluster", "a", "--cluster", "b"]
    argv += ["--prefer-cluster", "b,a", "--cluster-selector", "owner=交通局", "--", "x"]
    [from_flags] = specs_from_args(parse_args(argv))
    for spec in (from_file, from_flags):
        c = spec.constraints
        assert list(c.tolerations) == EXPECTED
        assert (list(c.clusters), list(c.preferred_clusters)) == (["a", "b"], ["b", "a"])
        assert dict(c.cluster_selector) == {"owner": "交通局"}
    assert [toleration_text(t) for t in EXPECTED] == [
        "dedicated=gpu:NoSchedule",
        "spot",
        "*:NoExecute",
    ]


def test_a_toleration_mapping_and_bad_forms() -> None:
    """A mapping with the proto's keys is taken as is; a non-list or an unknown key is refused
    naming the place."""
    [spec] = load_jobs(
        "command: [x]\nconstraints: {tolerations: [{key: k, operator: Exists}]}\n", "f.yaml"
    )
    assert list(spec.constraints.tolerations) == [T(key="k", operator="Exists")]
    with pytest.raises(JobFileError, match=r"f.yaml: job.constraints.tolerations: must be a list"):
        load_jobs("command: [x]\nconstraints: {tolerations: k}\n", "f.yaml")
    with pytest.raises(JobFileError, match=r"tolerations\[0\]: keys are key, operator"):
        load_jobs("command: [x]\nconstraints: {tolerations: [{kye: k}]}\n", "f.yaml")
    with pytest.raises(JobFileError, match=r"constraints.clusters: must be a list"):
        load_jobs("command: [x]\nconstraints: {clusters: a}\n", "f.yaml")
    with pytest.raises(JobFileError, match=r"constraints.cluster_selector: must be a mapping"):
        load_jobs("command: [x]\nconstraints: {cluster_selector: [a]}\n", "f.yaml")


def test_job_get_shows_them_back() -> None:
    """`job get` lists the tolerations, the allowed clusters and the preference order."""
    job = types_pb2.Job(
        job_id="j",
        spec=types_pb2.JobSpec(
            command=["x"],
            constraints=types_pb2.Constraints(
                tolerations=EXPECTED[:1],
                clusters=["a", "b"],
                preferred_clusters=["b", "a"],
                cluster_selector={"owner": "交通局"},
            ),
        ),
    )
    text = job_detail(job)
    assert "tolerates dedicated=gpu:NoSchedule" in text
    assert "clusters=a,b" in text and "prefers b > a" in text
    assert "clusters with owner=交通局" in text


def test_cluster_get_shows_taints_only_when_a_node_has_some() -> None:
    """A TAINTS column appears when some node is tainted (untainted nodes show none), and not
    at all in a pool without taints."""
    node = admin_pb2.Node(
        name="g0", taints=[types_pb2.Taint(key="dedicated", value="ai", effect="NoSchedule")]
    )
    plain = admin_pb2.Node(name="n0")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    text = cluster_detail(admin_pb2.Cluster(nodes=[node, plain], node_count=2), now)
    assert "TAINTS" in text and "dedicated=ai:NoSchedule" in text
    assert "TAINTS" not in cluster_detail(admin_pb2.Cluster(nodes=[plain], node_count=1), now)
