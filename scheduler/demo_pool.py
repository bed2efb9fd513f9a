"""The demo's pool: three clusters that differ in what matters, three departments, and about
twenty jobs whose constraints send them to different clusters (see scheduler/demo.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from protos.suanchou.v1 import admin_pb2, types_pb2
from scheduler import demo_slurm


@dataclass(frozen=True)
class DemoCluster:
    spec: admin_pb2.ClusterSpec
    nodes: list[dict[str, object]]  # the agent's YAML node list

    @property
    def node_count(self) -> int:
        return sum(int(str(n.get("count", 1))) for n in self.nodes)


CLUSTERS = [
    DemoCluster(
        admin_pb2.ClusterSpec(
            name="xc-gov",
            region="hangzhou",
            zone="hz-a",
            provider="信创云",
            security_level=3,
            xinchuang=True,
            price={"cpu": 0.08, "memory": 0.02},
        ),
        [
            {
                "name": "kunpeng",
                "count": 2,
                "capacity": {"cpu": 8, "memory": "32Gi"},
                "labels": {"arch": "aarch64", "cpu.model": "kunpeng-920"},
            }
        ],
    ),
    DemoCluster(
        admin_pb2.ClusterSpec(
            name="gov-cloud",
            region="shanghai",
            zone="sh-b",
            provider="gov-cloud",
            security_level=2,
            price={"cpu": 0.04, "memory": 0.01},
        ),
        [
            {
                "name": "ecs",
                "count": 3,
                "capacity": {"cpu": 16, "memory": "64Gi"},
                "labels": {"arch": "x86_64"},
            }
        ],
    ),
    DemoCluster(
        admin_pb2.ClusterSpec(
            name="gpu-hz",
            region="hangzhou",
            zone="hz-c",
            provider="gpu-pool",
            security_level=3,
            price={"cpu": 0.06, "memory": 0.015, "nvidia.com/gpu": 8.0},
        ),
        [
            {
                "name": "a100",
                "count": 2,
                "capacity": {"cpu": 32, "memory": "256Gi", "nvidia.com/gpu": 4},
                "labels": {"arch": "x86_64", "gpu.model": "A100"},
            }
        ],
    ),
]

DEPARTMENTS = [
    ("公安局", "市公安局 Public Security Bureau"),
    ("交通局", "市交通运输局 Transport"),
    ("卫健委", "市卫生健康委 Health Commission"),
]


def _job(
    name: str,
    *,
    cpu: int,
    memory: int,
    seconds: float = 0.3,
    replicas: int = 1,
    gpus: int = 0,
    priority: int = 0,
    min_level: int = 0,
    regions: tuple[str, ...] = (),
    xinchuang: bool = False,
    selector: dict[str, str] | None = None,
    prefer: tuple[str, ...] = (),
    topology: types_pb2.Topology | None = None,
) -> types_pb2.JobSpec:
    quantities = {"cpu": cpu, "memory": memory}
    if gpus:
        quantities["nvidia.com/gpu"] = gpus
    code = (
        f"import os,time; time.sleep({seconds}); "
        "print('replica', os.environ['SUANCHOU_REPLICA'], 'of', "
        "os.environ['SUANCHOU_REPLICAS'], 'job', os.environ['SUANCHOU_JOB_ID'])"
    )
    return types_pb2.JobSpec(
        client_id=f"demo-{name}",
        job_set="demo",
        name=name,
        priority=priority,
        replicas=replicas,
        resources=types_pb2.Resources(quantities=quantities),
        command=[sys.executable, "-c", code],
        env={"DEMO": "1"},
        max_runtime_seconds=60,
        constraints=types_pb2.Constraints(
            min_security_level=min_level,
            allowed_regions=list(regions),
            xinchuang_required=xinchuang,
            node_selector=selector or {},
            preferred_clusters=list(prefer),
        ),
        topology=topology,
    )


def demo_jobs(slurm_partition: str | None = None) -> dict[str, list[types_pb2.JobSpec]]:
    """About twenty jobs; the comment on each says where its constraints should send it."""
    jobs = {
        "公安局": [
            # 等保 3 and 信创: only xc-gov.
            _job("face-index", cpu=4000, memory=8192, min_level=3, xinchuang=True, priority=50),
            _job("case-archive", cpu=2000, memory=4096, min_level=3, xinchuang=True),
            _job("plate-ocr-train", cpu=8000, memory=32768, gpus=2, min_level=3, priority=80),
            _job(
                "audit-log-scan", cpu=1000, memory=2048, min_level=3, selector={"arch": "aarch64"}
            ),
            _job("alarm-stats", cpu=1000, memory=1024, min_level=3, regions=("hangzhou",)),
            _job("id-dedup", cpu=2000, memory=4096, replicas=2, min_level=3, xinchuang=True),
            # 等保 4 exists nowhere in this city: rejected at submit with the reason.
            _job("top-secret", cpu=1000, memory=1024, min_level=4),
        ],
        "交通局": [
            # No security floor: the cheapest cluster with room (gov-cloud).
            _job("traffic-report", cpu=2000, memory=4096),
            # Anti-affinity: its 3 replicas on 3 distinct nodes (gov-cloud has exactly 3).
            _job(
                "signal-timing",
                cpu=4000,
                memory=8192,
                replicas=3,
                topology=types_pb2.Topology(anti_affinity=True),
            ),
            # One spread group over 2 zones: the two jobs land in two different zones.
            *(
                _job(
                    f"hotline-{side}",
                    cpu=1000,
                    memory=1024,
                    topology=types_pb2.Topology(spread_zones=2, spread_group="hotline"),
                )
                for side in ("a", "b")
            ),
            _job("bus-eta", cpu=1000, memory=2048, priority=20),
            _job("parking-heatmap", cpu=2000, memory=2048),
            _job("road-sensor-etl", cpu=6000, memory=16384, replicas=2),
            _job("flow-forecast-train", cpu=16000, memory=65536, gpus=4, regions=("hangzhou",)),
            _job("ticket-ocr", cpu=4000, memory=8192, gpus=1, priority=10),
        ],
        "卫健委": [
            _job("epi-model", cpu=8000, memory=16384, replicas=2, regions=("shanghai",)),
            # Prefers the 信创 cluster, then gov-cloud: xc-gov while it has room.
            _job("claims-batch", cpu=2000, memory=4096, prefer=("xc-gov", "gov-cloud")),
            _job("vaccine-stock", cpu=1000, memory=1024, min_level=3),
            _job("imaging-infer", cpu=4000, memory=16384, gpus=1, min_level=3),
            _job("hospital-beds", cpu=500, memory=512, priority=30),
            # A GPU model no cluster has: rejected by the node selector.
            _job("genome-align", cpu=8000, memory=32768, gpus=1, selector={"gpu.model": "H800"}),
        ],
    }
    if slurm_partition is not None:
        # Only the Slurm cluster's nodes carry the partition label: this one goes to Slurm.
        jobs["交通局"].append(
            demo_slurm.job(_job("traffic-sim-hpc", cpu=1000, memory=1024), slurm_partition)
        )
    return jobs
