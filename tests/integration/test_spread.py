"""Spread over zones and anti-affinity end to end: a real scheduler, real local agents in two
clusters of different zones, leases read back over gRPC, ExplainJob when spread blocks."""

from __future__ import annotations

import json
import sys

import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.cli.main import main
from scheduler.domain.topology import ZONE_LABEL
from tests.integration.conftest import Pool, md, node, py_job

DONE = {types_pb2.JOB_STATE_SUCCEEDED}
DEPT = "交通局"
ZONES = {("zone-a", "a0"): "hz-a", ("zone-a", "a1"): "hz-c", ("zone-b", "b0"): "hz-b"}


def _zoned(pool: Pool) -> Pool:
    """Cluster zone-a (registered zone hz-a; node a1 labelled hz-c, so it spans two zones) and
    cluster zone-b (hz-b), each node with room for several small replicas; a real agent each."""
    pool.department(DEPT)
    pool.cluster("zone-a", [node("a0"), node("a1", **{ZONE_LABEL: "hz-c"})], zone="hz-a")
    pool.cluster("zone-b", [node("b0")], zone="hz-b")
    return pool


@pytest.fixture
def zoned(pool: Pool) -> Pool:
    return _zoned(pool)


@pytest.fixture(params=["sqlite", "postgresql"])
def zoned_any(request: pytest.FixtureRequest) -> Pool:
    """The zoned pool on SQLite and on the test PostgreSQL server."""
    return _zoned(request.getfixturevalue("pool" if request.param == "sqlite" else "pg_pool"))


def _places(pool: Pool, job_id: str) -> list[tuple[str, str]]:
    """(cluster, node) of each replica of the job's current attempt, once it succeeded."""
    job = pool.wait_state(DEPT, job_id, DONE, timeout=60)
    return sorted((r.cluster, r.node) for r in job.runs)


def test_a_spread_group_and_gangs_run_across_zones_and_distinct_nodes(zoned_any: Pool) -> None:
    """Three one-replica jobs of group 'web' asking 3 zones run in all three, in both clusters
    (zone-a spans hz-a and hz-c, zone-b is hz-b); a 2-replica gang asking 2 zones runs in
    zone-a on a0 (hz-a) and a1 (hz-c); a 2-replica anti-affine gang runs on two distinct nodes;
    GetJob shows each topology as stored (SQLite and PostgreSQL)."""
    web = types_pb2.Topology(spread_zones=3, spread_group="web")
    results = zoned_any.submit(
        DEPT,
        *(py_job(f"web-{i}", "pass", topology=web) for i in range(3)),
        py_job("gang", "pass", replicas=2, topology=types_pb2.Topology(spread_zones=2)),
        py_job("anti", "pass", replicas=2, topology=types_pb2.Topology(anti_affinity=True)),
    )
    assert [r.error.code for r in results] == [""] * 5, results
    web1, web2, web3, gang, anti = (r.job_id for r in results)
    zones = {ZONES[place] for job_id in (web1, web2, web3) for place in _places(zoned_any, job_id)}
    assert zones == {"hz-a", "hz-b", "hz-c"}
    assert _places(zoned_any, gang) == [("zone-a", "a0"), ("zone-a", "a1")]
    anti_places = _places(zoned_any, anti)
    assert len(set(anti_places)) == 2
    shown = zoned_any.get(DEPT, web1).spec.topology
    assert (shown.spread_zones, shown.spread_group, shown.anti_affinity) == (3, "web", False)
    assert zoned_any.get(DEPT, anti).spec.topology.anti_affinity


def test_an_unsatisfiable_spread_is_refused_or_explained(zoned: Pool) -> None:
    """A group asking 4 zones in a pool of 3 is REJECTED with SPREAD naming the 3 zones; a
    gang asking 3 zones is REJECTED since no cluster spans 3; a group's lone one-replica job
    asking 2 zones waits, and ExplainJob says SPREAD and why; a gang asking 2 zones but too big
    for node a1 while another job holds half of it waits as SPREAD (one zone with room per
    cluster), and runs on a0 and a1 once that job is cancelled; a 3-replica anti-affine gang
    is refused (no cluster has 3 nodes)."""
    results = zoned.submit(
        DEPT,
        py_job("wide", "pass", topology=types_pb2.Topology(spread_zones=4, spread_group="db")),
        py_job("gang3", "pass", replicas=3, topology=types_pb2.Topology(spread_zones=3)),
        py_job("lone", "pass", topology=types_pb2.Topology(spread_zones=2, spread_group="solo")),
        py_job("anti3", "pass", replicas=3, topology=types_pb2.Topology(anti_affinity=True)),
    )
    wide, gang3, lone, anti3 = results
    assert (wide.state, wide.reason, wide.error.code, wide.error.field) == (
        types_pb2.JOB_STATE_REJECTED,
        "SPREAD",
        "FAILED_PRECONDITION",
        "topology",
    )
    assert "needs 4 zones for spread group 'db', only 3 zones (hz-a, hz-b, hz-c)" in wide.message
    assert (gang3.state, gang3.reason) == (types_pb2.JOB_STATE_REJECTED, "SPREAD")
    assert (anti3.state, anti3.reason) == (types_pb2.JOB_STATE_REJECTED, "ANTI_AFFINITY")
    token = md(zoned.tokens[DEPT])
    why = zoned.jobs.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=gang3.job_id), metadata=token)
    assert why.reason == "SPREAD" and {v.reason for v in why.clusters} == {"SPREAD"}
    assert lone.state == types_pb2.JOB_STATE_QUEUED

    def explained(job_id: str) -> jobs_pb2.ExplainJobResponse | None:
        reply = zoned.jobs.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=job_id), metadata=token)
        return reply if reply.reason == "SPREAD" else None

    zoned.wait_for(lambda: explained(lone.job_id) is not None, 30, "lone job explained")
    reply = explained(lone.job_id)
    assert reply is not None and "spread group 'solo' needs 2 zones" in reply.message
    assert "1 replica(s) for the 2 zone(s) missing" in reply.message
    # Node a1 is 4 cores; 3-core replicas fit on it but, with a 2-core job holding it, only a0
    # (hz-a) and b0 (hz-b, another cluster) have room: the gang waits, saying so.
    hold = zoned.submit(
        DEPT, py_job("hold-a1", "import time; time.sleep(60)", cpu=2000, replicas=1,
                     constraints=types_pb2.Constraints(node_selector={ZONE_LABEL: "hz-c"}))
    )[0]  # fmt: skip
    zoned.wait_state(DEPT, hold.job_id, {types_pb2.JOB_STATE_RUNNING}, timeout=60)
    two_zones = types_pb2.Topology(spread_zones=2)
    [big] = zoned.submit(DEPT, py_job("big", "pass", cpu=3000, replicas=2, topology=two_zones))
    zoned.wait_for(lambda: explained(big.job_id) is not None, 30, "big gang explained")
    reply = explained(big.job_id)
    assert reply is not None
    assert "needs its 2 replicas in 2 zones of one cluster, only 1 zone (" in reply.message
    zoned.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=[hold.job_id]), metadata=token)
    assert _places(zoned, big.job_id) == [("zone-a", "a0"), ("zone-a", "a1")]


def test_the_cli_submits_a_topology_and_shows_it(
    zoned: Pool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`job submit --spread-zones 2 --anti-affinity` runs the gang on two nodes of two zones and
    `job get` prints the topology."""
    monkeypatch.setenv("SUANCHOU_SCHEDULER", zoned.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", zoned.tokens[DEPT])
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    code = main(
        ["--json", "job", "submit", "--cpu", "0.5", "--memory", "128Mi", "--replicas", "2",
         "--spread-zones", "2", "--anti-affinity", "--", sys.executable, "-c", "pass"]
    )  # fmt: skip
    assert code == 0
    job_id = json.loads(capsys.readouterr().out)["results"][0]["job_id"]
    assert _places(zoned, job_id) == [("zone-a", "a0"), ("zone-a", "a1")]
    assert main(["job", "get", job_id]) == 0
    shown = capsys.readouterr().out
    assert "spread over >= 2 zones; replicas on distinct nodes" in shown


def test_an_anti_affine_group_avoids_its_running_jobs_nodes(zoned: Pool) -> None:
    """Three one-replica jobs of anti-affine group 'db' run on the pool's three nodes at once; a
    fourth waits as ANTI_AFFINITY while they hold every node (though each node has room), and
    runs on the node of the one that ended first."""
    release = zoned.tmp / "release-db-0"
    hold = (
        "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)"
    )
    db = types_pb2.Topology(anti_affinity=True, spread_group="db")
    specs = [py_job(f"db-{i}", hold, topology=db) for i in range(3)]
    specs[0].command.append(str(release))
    for spec in specs[1:]:
        spec.command.append(str(zoned.tmp / "never"))
    results = zoned.submit(DEPT, *specs)
    ids = [r.job_id for r in results]
    running = {types_pb2.JOB_STATE_RUNNING}
    places = [zoned.wait_state(DEPT, i, running, timeout=60).runs[0] for i in ids]
    assert len({(r.cluster, r.node) for r in places}) == 3
    [fourth] = zoned.submit(DEPT, py_job("db-3", "pass", topology=db))
    token = md(zoned.tokens[DEPT])

    def explain() -> jobs_pb2.ExplainJobResponse:
        request = jobs_pb2.ExplainJobRequest(job_id=fourth.job_id)
        return zoned.jobs.ExplainJob(request, metadata=token)

    zoned.wait_for(lambda: explain().reason == "ANTI_AFFINITY", 30, "the fourth job explained")
    assert "hold 3 node(s), and only 0 other node(s) have room now" in explain().message
    release.touch()
    [run] = zoned.wait_state(DEPT, fourth.job_id, DONE, timeout=60).runs
    assert (run.cluster, run.node) == (places[0].cluster, places[0].node)
    zoned.jobs.CancelJobs(jobs_pb2.CancelJobsRequest(job_ids=ids[1:]), metadata=token)
