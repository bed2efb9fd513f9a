"""`suanchou demo`: the whole pool on one machine, with nothing to set up.

A scheduler on a SQLite file in a temporary directory, three departments, three clusters that
differ in what matters (a 信创 cluster at 等保 level 3, a cheaper general cloud at level 2 in
another region, a GPU cluster), one real agent process per cluster, and about twenty jobs whose
constraints send them to different clusters. When the machine has a Slurm that answers, a
fourth cluster is that real Slurm (scheduler/demo_slurm.py) and one more job goes there.
Everything goes through the public gRPC API, as a department system and a cloud admin would use it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml

from protos.suanchou.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    security_pb2,
    security_pb2_grpc,
    types_pb2,
)
from scheduler import demo_slurm, logs
from scheduler.app import App
from scheduler.cli.render import table
from scheduler.config import ServerConfig
from scheduler.demo_pool import CLUSTERS, DEPARTMENTS, demo_jobs
from scheduler.service.settings import SchedulerSettings

TERMINAL = {
    types_pb2.JOB_STATE_SUCCEEDED,
    types_pb2.JOB_STATE_FAILED,
    types_pb2.JOB_STATE_CANCELLED,
    types_pb2.JOB_STATE_REJECTED,
}


@dataclass
class Tally:
    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    job_ids: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (dept, name)


def _md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@contextmanager
def _agents(
    address: str, workdir: Path, tokens: dict[str, str], slurm_partition: str | None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    executors: dict[str, list[str]] = {}
    for cluster in CLUSTERS:
        nodes_file = workdir / f"{cluster.spec.name}-nodes.yaml"
        nodes_file.write_text(yaml.safe_dump({"nodes": cluster.nodes}, allow_unicode=True))
        executors[cluster.spec.name] = ["--nodes", str(nodes_file)]
    if slurm_partition is not None:
        executors[demo_slurm.NAME] = demo_slurm.agent_args(slurm_partition)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, executor in executors.items():
            env = dict(os.environ, SUANCHOU_AGENT_TOKEN=tokens[name])
            # The child keeps its own copy of the log descriptor; ours closes right away.
            with open(workdir / f"agent-{name}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "agents",
                            "--scheduler",
                            address,
                            *executor,
                            "--workdir",
                            str(workdir / f"runs-{name}"),
                            "--interval",
                            "0.3",
                            "--kill-grace",
                            "2",
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _bootstrap_admin(channel: grpc.Channel, bootstrap_token: str) -> str:
    """The bootstrap token's one power: create the `admin` principal; returns its token."""
    reply = security_pb2_grpc.PrincipalServiceStub(channel).CreatePrincipal(
        security_pb2.CreatePrincipalRequest(name="admin", role="admin"),
        metadata=_md(bootstrap_token),
    )
    return str(reply.token)


def run(workdir: Path, out: object = None) -> int:
    say = print
    bootstrap_file = workdir / "bootstrap-token"
    bootstrap_file.write_text(secrets.token_urlsafe(24))
    bootstrap_file.chmod(0o600)
    settings = SchedulerSettings(sync_interval_s=0.3, lease_timeout_s=15, cycle_interval_s=0.5)
    config = ServerConfig(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{workdir / 'suanchou.db'}",
        admin_token_file=str(bootstrap_file),
        scheduler=settings,
    )
    app = App(config)
    app.start()
    say(f"scheduler: {app.address}, database {workdir / 'suanchou.db'}")
    with ExitStack() as stack:
        stack.callback(app.stop)
        channel = stack.enter_context(grpc.insecure_channel(app.address))
        clusters = admin_pb2_grpc.ClusterServiceStub(channel)
        depts = admin_pb2_grpc.DepartmentServiceStub(channel)
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        admin = _md(_bootstrap_admin(channel, bootstrap_file.read_text()))

        dept_tokens = {}
        for name, display in DEPARTMENTS:
            reply = depts.CreateDepartment(
                admin_pb2.CreateDepartmentRequest(name=name, display_name=display), metadata=admin
            )
            dept_tokens[name] = reply.token
        partition, why_not = demo_slurm.probe()
        cluster_specs = [c.spec for c in CLUSTERS]
        # Slurm says how many nodes it has; the demo waits for at least one.
        expected = {c.spec.name: c.node_count for c in CLUSTERS}
        if partition is None:
            say(f"{demo_slurm.NAME}: skipped, no local Slurm ({why_not})")
        else:
            cluster_specs.append(demo_slurm.SPEC)
            expected[demo_slurm.NAME] = 1
        agent_tokens = {}
        for cluster_spec in cluster_specs:
            reply = clusters.RegisterCluster(
                admin_pb2.RegisterClusterRequest(spec=cluster_spec), metadata=admin
            )
            agent_tokens[cluster_spec.name] = reply.agent_token
        stack.enter_context(_agents(app.address, workdir, agent_tokens, partition))
        _wait_for_nodes(clusters, admin, expected)
        _print_clusters(clusters, admin, say)
        if partition is not None:
            say(
                f"{demo_slurm.NAME}: the local Slurm (partition {partition}); job traffic-sim-hpc"
                f" goes there by its node selector {demo_slurm.PARTITION_LABEL}={partition}"
            )

        tally = Tally()
        say("\nsubmitting:")
        rows = []
        for dept, items in demo_jobs(partition).items():
            reply = jobs.SubmitJobs(
                jobs_pb2.SubmitJobsRequest(items=items), metadata=_md(dept_tokens[dept])
            )
            for spec, result in zip(items, reply.results, strict=True):
                tally.submitted += 1
                if result.state == types_pb2.JOB_STATE_QUEUED:
                    tally.accepted += 1
                    tally.job_ids[result.job_id] = (dept, spec.name)
                else:
                    tally.rejected += 1
                    rows.append([dept, spec.name, result.error.code or "REJECTED", result.message])
        if rows:
            say(table(["department", "job", "rejected", "reason"], rows))

        final = _wait_until_done(jobs, dept_tokens, tally, timeout_s=45)
        _print_results(jobs, dept_tokens, tally, final, say)
        succeeded = sum(1 for s in final.values() if s == types_pb2.JOB_STATE_SUCCEEDED)
        failed = len(tally.job_ids) - succeeded
        say(
            f"demo: {tally.submitted} submitted, {tally.accepted} accepted, {succeeded} succeeded,"
            f" {failed} failed, {tally.rejected} rejected"
        )
        return 0 if failed == 0 else 1


def _wait_for_nodes(
    stub: admin_pb2_grpc.ClusterServiceStub,
    md: tuple[tuple[str, str], ...],
    expected: dict[str, int],
    timeout_s: float = 20,
) -> None:
    """Waits until every cluster's agent has reported at least its expected node count."""
    deadline = time.monotonic() + timeout_s
    missing = sorted(expected)
    while time.monotonic() < deadline:
        listed = stub.ListClusters(admin_pb2.ListClustersRequest(), metadata=md)
        counts = {c.spec.name: c.node_count for c in listed.clusters}
        missing = [name for name, n in sorted(expected.items()) if counts.get(name, 0) < n]
        if not missing:
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"agents of {', '.join(missing)} did not report their nodes within {timeout_s}s"
    )


def _print_clusters(
    stub: admin_pb2_grpc.ClusterServiceStub, md: tuple[tuple[str, str], ...], say: object
) -> None:
    listed = stub.ListClusters(admin_pb2.ListClustersRequest(), metadata=md)
    rows = []
    for c in listed.clusters:
        cap = c.capacity.quantities
        rows.append(
            [
                c.spec.name,
                c.spec.region,
                c.spec.provider,
                str(c.spec.security_level),
                "yes" if c.spec.xinchuang else "no",
                str(c.node_count),
                f"{cap.get('cpu', 0) // 1000}",
                f"{cap.get('memory', 0) // 1024}Gi",
                str(cap.get("nvidia.com/gpu", 0)),
                ",".join(f"{k}={v:g}" for k, v in sorted(c.spec.price.items())),
            ]
        )
    print("\nclusters:")
    print(
        table(
            [
                "cluster",
                "region",
                "provider",
                "等保",
                "信创",
                "nodes",
                "cpu",
                "memory",
                "gpu",
                "price ¥/unit-h",
            ],
            rows,
        )
    )


def _wait_until_done(
    stub: jobs_pb2_grpc.JobServiceStub, tokens: dict[str, str], tally: Tally, timeout_s: float
) -> dict[str, int]:
    """Follows each department's event stream until every accepted job has ended."""
    states: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    after = dict.fromkeys(tokens, 0)
    while time.monotonic() < deadline:
        for dept, token in tokens.items():
            for event in stub.WatchEvents(
                jobs_pb2.WatchEventsRequest(after_event_id=after[dept], job_set="demo"),
                metadata=_md(token),
                timeout=5,
            ):
                after[dept] = event.event_id
                if event.job_id in tally.job_ids:
                    states[event.job_id] = event.state
        if all(states.get(j) in TERMINAL for j in tally.job_ids):
            return states
        time.sleep(0.2)
    return states


def _print_results(
    stub: jobs_pb2_grpc.JobServiceStub,
    tokens: dict[str, str],
    tally: Tally,
    states: dict[str, int],
    say: object,
) -> None:
    rows = []
    for job_id, (dept, name) in tally.job_ids.items():
        md = _md(tokens[dept])
        job = stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), metadata=md)
        why = stub.ExplainJob(jobs_pb2.ExplainJobRequest(job_id=job_id), metadata=md)
        placed = next((v.message for v in why.clusters if v.reason == "CHOSEN"), "")
        blocked = "; ".join(
            f"{v.cluster}: {v.reason.lower()}" for v in why.clusters if not v.eligible
        )
        nodes = ",".join(sorted({r.node for r in job.runs}))
        codes = ",".join(str(r.exit_code) for r in job.runs if r.HasField("exit_code"))
        rows.append(
            [
                dept,
                name,
                types_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_"),
                job.cluster,
                nodes,
                codes,
                placed.removeprefix("chosen; "),
                blocked or "-",
            ]
        )
    print("\nwhere each job went and why:")
    print(
        table(
            [
                "department",
                "job",
                "state",
                "cluster",
                "nodes",
                "exit",
                "cost",
                "clusters ruled out",
            ],
            rows,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="suanchou demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (database, agent logs, job output)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="scheduler log level on stderr (default warning)",
    )
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    workdir = Path(tempfile.mkdtemp(prefix="suanchou-demo-"))
    try:
        return run(workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
