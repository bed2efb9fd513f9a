"""`suanchou cluster ...`: register, inspect, cordon and remove clusters (admin token)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from agents.quantities import (
    CPU,
    MEMORY,
    SHARES_PER_DEVICE,
    format_quantity,
    format_request,
    format_resources,
)
from protos.suanchou.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from scheduler.cli import render
from scheduler.cli.connection import CALL_TIMEOUT_SECONDS, bearer, open_channel
from scheduler.cli.errors import EXIT_OK
from scheduler.cli.flagvalues import key_values, prices
from scheduler.cli.settings import Settings

TOKEN_NOTE = (
    "note: the agent token is shown only this once (the scheduler keeps only its hash); "
    "give it to the cluster's agent now"
)
LIST_HEADERS = (
    "NAME", "REGION", "ZONE", "PROVIDER", "等保", "信创", "STATE", "NODES",
    "CPU", "MEMORY", "GPUS", "RUNS", "HEARTBEAT",
)  # fmt: skip


def register(args: argparse.Namespace, settings: Settings) -> int:
    spec = admin_pb2.ClusterSpec(
        name=args.name,
        region=args.region,
        zone=args.zone,
        provider=args.provider,
        security_level=args.security_level,
        xinchuang=args.xinchuang,
        price=prices(args.price),
        labels=key_values(args.label, "--label"),
    )
    token = settings.admin()
    with open_channel(settings) as channel:
        response: admin_pb2.RegisterClusterResponse = admin_pb2_grpc.ClusterServiceStub(
            channel
        ).RegisterCluster(
            admin_pb2.RegisterClusterRequest(spec=spec),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    cluster = response.cluster
    render.token_reply(
        response,
        args.json,
        [
            f"registered cluster {cluster.spec.name} ({render.cluster_state(cluster.state)})",
            f"agent token: {response.agent_token}",
        ],
        TOKEN_NOTE,
    )
    return EXIT_OK


def get(args: argparse.Namespace, settings: Settings) -> int:
    cluster = _call_returning_cluster(
        settings, "GetCluster", admin_pb2.GetClusterRequest, args.name
    )
    if args.json:
        print(render.dumps(render.message_dict(cluster)))
    else:
        print(cluster_detail(cluster, datetime.now(UTC)))
    return EXIT_OK


def list_clusters(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    response = admin_pb2.ListClustersResponse()
    with open_channel(settings) as channel:
        stub = admin_pb2_grpc.ClusterServiceStub(channel)
        page_token = ""
        while True:  # replies are paged (bounded in count and bytes); follow every page
            page: admin_pb2.ListClustersResponse = stub.ListClusters(
                admin_pb2.ListClustersRequest(page_token=page_token),
                metadata=bearer(token),
                timeout=CALL_TIMEOUT_SECONDS,
            )
            response.clusters.extend(page.clusters)
            page_token = page.next_page_token
            if not page_token:
                break
    if args.json:
        print(render.dumps(render.message_dict(response)))
    else:
        print(cluster_table(response.clusters, datetime.now(UTC)))
        for c in response.clusters:
            if c.agent_error:
                print(f"{c.spec.name}: agent error: {c.agent_error}")
    return EXIT_OK


def cordon(args: argparse.Namespace, settings: Settings) -> int:
    cluster = _call_returning_cluster(
        settings, "CordonCluster", admin_pb2.CordonClusterRequest, args.name
    )
    return _print_state(args, cluster)


def uncordon(args: argparse.Namespace, settings: Settings) -> int:
    cluster = _call_returning_cluster(
        settings, "UncordonCluster", admin_pb2.UncordonClusterRequest, args.name
    )
    return _print_state(args, cluster)


def deregister(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.admin()
    with open_channel(settings) as channel:
        response: admin_pb2.DeregisterClusterResponse = admin_pb2_grpc.ClusterServiceStub(
            channel
        ).DeregisterCluster(
            admin_pb2.DeregisterClusterRequest(name=args.name, drain=args.drain),
            metadata=bearer(token),
            timeout=CALL_TIMEOUT_SECONDS,
        )
    if args.json:
        print(render.dumps(render.message_dict(response)))
    elif response.removed:
        print(f"cluster {args.name} removed")
    else:
        print(
            f"cluster {args.name} is DRAINING: it takes no new work and will be removed once its "
            f"{response.cluster.active_runs} active run(s) have ended"
        )
    return EXIT_OK


def _call_returning_cluster(
    settings: Settings, method: str, request_type: type, name: str
) -> admin_pb2.Cluster:
    """GetCluster, CordonCluster and UncordonCluster: a name in, a Cluster out."""
    token = settings.admin()
    with open_channel(settings) as channel:
        stub = admin_pb2_grpc.ClusterServiceStub(channel)
        cluster: admin_pb2.Cluster = getattr(stub, method)(
            request_type(name=name), metadata=bearer(token), timeout=CALL_TIMEOUT_SECONDS
        )
    return cluster


def _print_state(args: argparse.Namespace, cluster: admin_pb2.Cluster) -> int:
    if args.json:
        print(render.dumps(render.message_dict(cluster)))
    else:
        print(f"cluster {cluster.spec.name}: {render.cluster_state(cluster.state)}")
    return EXIT_OK


def is_accelerator(name: str) -> bool:
    # Devices are advertised under a vendor domain (nvidia.com/gpu, huawei.com/ascend), the
    # Kubernetes device-plugin convention the protocol follows; the GPUS column sums them.
    return "/" in name


def _used_of(name: str, allocated: Mapping[str, int], capacity: Mapping[str, int]) -> str:
    return (
        f"{format_quantity(name, allocated.get(name, 0))}/"
        f"{format_quantity(name, capacity.get(name, 0))}"
    )


def _devices(
    allocated: Mapping[str, int], capacity: Mapping[str, int], shares: Mapping[str, int]
) -> str:
    """Devices allocated (whole ones plus shares, in devices) of the devices there are."""
    whole = sum(v for k, v in allocated.items() if is_accelerator(k))
    used = whole + sum(shares.values()) / SHARES_PER_DEVICE
    total = sum(v for k, v in capacity.items() if is_accelerator(k))
    return f"{used:g}/{total}"


def cluster_table(clusters: Sequence[admin_pb2.Cluster], now: datetime) -> str:
    """The `cluster list` table: one row per cluster, allocated/capacity in human units."""
    rows = []
    for c in clusters:
        cap, used = c.capacity.quantities, c.allocated.quantities
        rows.append(
            [
                c.spec.name,
                c.spec.region,
                render.or_none(c.spec.zone),
                render.or_none(c.spec.provider),
                str(c.spec.security_level),
                "yes" if c.spec.xinchuang else "-",
                render.cluster_state(c.state),
                str(c.node_count),
                _used_of(CPU, used, cap),
                _used_of(MEMORY, used, cap),
                _devices(used, cap, c.allocated.shares),
                str(c.active_runs),
                render.age(c.last_heartbeat, now),
            ]
        )
    return render.table(LIST_HEADERS, rows, right=(4, 7, 8, 9, 10, 11))


def cluster_detail(cluster: admin_pb2.Cluster, now: datetime) -> str:
    """The `cluster get` view: spec and state, resources, then one row per node."""
    spec = cluster.spec
    heartbeat = render.local_time(cluster.last_heartbeat)
    if render.timestamp(cluster.last_heartbeat) is not None:
        heartbeat += f" ({render.age(cluster.last_heartbeat, now)})"
    header = render.fields(
        [
            ("Name", spec.name),
            ("State", render.cluster_state(cluster.state)),
            ("Region / zone", f"{spec.region} / {render.or_none(spec.zone)}"),
            ("Provider", render.or_none(spec.provider)),
            ("等保 level", str(spec.security_level)),
            ("信创", "yes" if spec.xinchuang else "no"),
            ("Price (¥/h)", render.mapping({k: f"{v:g}" for k, v in spec.price.items()})),
            ("Labels", render.mapping(spec.labels)),
            ("Capacity", format_resources(cluster.capacity.quantities)),
            (
                "Allocated",
                format_request(cluster.allocated.quantities, cluster.allocated.shares),
            ),
            ("Active runs", str(cluster.active_runs)),
            ("Last heartbeat", heartbeat),
            ("Agent error", render.or_none(cluster.agent_error)),
            ("Registered", render.local_time(cluster.created_at)),
        ]
    )
    names = sorted({k for n in cluster.nodes for k in n.capacity.quantities if is_accelerator(k)})
    rows = [
        [
            node.name,
            _used_of(CPU, node.allocated.quantities, node.capacity.quantities),
            _used_of(MEMORY, node.allocated.quantities, node.capacity.quantities),
            *(_used_of(k, node.allocated.quantities, node.capacity.quantities) for k in names),
            render.mapping(node.labels),
        ]
        for node in cluster.nodes
    ]
    if not rows:
        return f"{header}\n\nNodes: none reported yet"
    tainted = any(node.taints for node in cluster.nodes)
    if tainted:  # a column only where some node has taints: most pools have none
        for row, node in zip(rows, cluster.nodes, strict=True):
            row.append(", ".join(_taint(t) for t in node.taints) or render.NONE)
    titles = ["NODE", "CPU", "MEMORY", *[k.upper() for k in names], "LABELS"]
    nodes = render.table([*titles, *(["TAINTS"] if tainted else [])], rows)
    return f"{header}\n\nNodes ({cluster.node_count}):\n{nodes}"


def _taint(t: types_pb2.Taint) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"
