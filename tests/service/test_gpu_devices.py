"""GPU shares through the cycle: the solver's device packing reaches the runs and the leases."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from scheduler.domain.models import Cluster, ClusterSpec, Job, JobSpec, Node, Run
from scheduler.domain.resources import NVIDIA_GPU
from scheduler.domain.states import ClusterState, JobState, RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.cycle_devices import DeviceBook
from scheduler.service.snapshot import UNKNOWN_DEVICE, Snapshot
from tests.service.conftest import Pool

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _gpu_node(name: str = "g1", devices: int = 2) -> Node:
    return Node("a", name, {"cpu": 16000, "memory": 65536, NVIDIA_GPU: 1000 * devices})


def _gpu_job(client_id: str, gpu: int) -> JobSpec:
    return JobSpec(
        client_id=client_id,
        command=("true",),
        resources={"cpu": 1000, "memory": 256, NVIDIA_GPU: gpu},
    )


def _active_runs(pool: Pool) -> list[tuple[Run, int]]:
    """Every active run with its job's GPU demand."""
    with pool.store.unit(write=False) as tx:
        runs = tx.runs.active()
        jobs = tx.jobs.get_many(r.job_id for r in runs)
    return [(r, jobs[r.job_id].spec.resources.get(NVIDIA_GPU, 0)) for r in runs]


def _assert_no_device_over_its_share(pool: Pool) -> None:
    """Shares on one device sum to at most 1000; a whole device has nothing else on it."""
    load: dict[tuple[str, int], int] = defaultdict(int)
    whole: dict[tuple[str, int], int] = defaultdict(int)
    users: dict[tuple[str, int], int] = defaultdict(int)
    for run, q in _active_runs(pool):
        if not q:
            continue
        assert len(run.devices) == (q // 1000 if q % 1000 == 0 else 1), run
        for d in run.devices:
            key = (run.node, d)
            users[key] += 1
            if q % 1000 == 0:
                whole[key] += 1
            else:
                load[key] += q
    for key, n in users.items():
        assert load[key] <= 1000, key
        assert not whole[key] or n == 1, key


def test_two_shares_land_on_one_device_and_a_whole_gpu_on_the_other(pool: Pool) -> None:
    """On a node with 2 GPUs, a 0.5 and a 0.25 share are packed onto one device and a whole-GPU
    job gets the other; the leases carry those device ids."""
    pool.cluster("a", [_gpu_node()])
    ids = pool.submit(_gpu_job("half", 500), _gpu_job("quarter", 250), _gpu_job("whole", 1000))
    assert pool.cycle.run_once().placed == 3
    leases = {lease.job.job_id: lease for lease in pool.sync("a").start}
    half, quarter, whole = (leases[i].run.devices for i in ids)
    assert len(half) == 1 and half == quarter
    assert len(whole) == 1 and whole != half
    assert {half[0], whole[0]} == {0, 1}
    _assert_no_device_over_its_share(pool)


def test_devices_of_running_replicas_are_never_handed_out_again(pool: Pool) -> None:
    """Over cycles where work ends and new shares and whole GPUs arrive, the device ids the
    cycle gives never put a device above its share, whatever ids the solver reassigns to the
    running replicas in its own answer."""
    pool.cluster("a", [_gpu_node(devices=3)])
    waves = [
        [("w1", 1000), ("s1", 500), ("s2", 600)],
        [("s3", 400), ("s4", 250)],
        [("w2", 1000), ("s5", 500)],
        [("w3", 2000), ("s6", 300)],
    ]
    for k, wave in enumerate(waves):
        pool.submit(*(_gpu_job(name, gpu) for name, gpu in wave))
        pool.cycle.run_once()
        started = [lease.run.run_id for lease in pool.sync("a").start]
        pool.sync("a", [RunReport(r, RunState.RUNNING) for r in started])
        _assert_no_device_over_its_share(pool)
        # The oldest running replica ends, so the next wave meets devices freed unevenly.
        running = sorted(_active_runs(pool), key=lambda x: x[0].created_at)
        if running and k % 2 == 0:
            done = running[0][0].run_id
            pool.sync("a", [RunReport(done, RunState.SUCCEEDED, 0)])
    assert any(run.devices for run, _ in _active_runs(pool))


def test_a_gang_waits_when_running_shares_hold_every_device_apart() -> None:
    """A whole GPU asked where running shares sit on both devices (0.5 on 0, 0.4 on 1) is not
    given a device the solver thought it could free up: nothing is booked and the reason says
    the devices are held apart."""
    cluster = Cluster(ClusterSpec(name="a", region="hz"), ClusterState.ACTIVE, NOW, NOW)
    node = _gpu_node()
    snap = Snapshot(
        now=NOW,
        clusters=(cluster,),
        states={"a": ClusterState.ACTIVE},
        nodes=(node,),
        used={},
        queued=(),
        device_load={("a", "g1"): {0: 500, 1: 400}},
    )
    book = DeviceBook(snap)
    whole = Job("w", "d", _gpu_job("w", 1000), JobState.QUEUED, NOW, NOW, seq=1)
    ids, why = book.assign(whole, [node], [(1,)])
    assert ids == () and "held apart" in why and "nvidia.com/gpu" in why
    share = Job("s", "d", _gpu_job("s", 600), JobState.QUEUED, NOW, NOW, seq=2)
    assert book.assign(share, [node], [(0,)]) == (((1,),), "")  # 0 is too full: the free one
    assert book.assign(share, [node], None)[1]  # both devices are now too full for 0.6


def test_shares_stay_off_nodes_that_run_whole_devices_only(pool: Pool) -> None:
    """A whole-GPU job and a share with the same constraints: the share never goes to the
    cluster whose nodes run whole devices only (Kubernetes), however the solver packs."""
    kube = Node("k", "k1", {"cpu": 16000, "memory": 65536, NVIDIA_GPU: 4000})
    kube = Node(kube.cluster, kube.name, kube.capacity, {"suanchou.io/device-shares": "false"})
    pool.cluster("k", [kube])
    pool.cluster("a", [_gpu_node(devices=1)])
    whole, *shares = pool.submit(
        _gpu_job("whole", 1000), *(_gpu_job(f"s{i}", 500) for i in range(3))
    )
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        runs = {r.job_id: r for r in tx.runs.active()}
    assert all(runs[s].cluster == "a" for s in shares if s in runs)
    assert sum(s in runs for s in shares) == 2 and runs[whole].cluster == "k"


def test_no_device_is_given_beside_a_run_without_device_ids() -> None:
    """A GPU run leased before device ids (UNKNOWN_DEVICE in the snapshot) may use any device
    of its node: a new share there waits instead of getting an id."""
    cluster = Cluster(ClusterSpec(name="a", region="hz"), ClusterState.ACTIVE, NOW, NOW)
    node = _gpu_node()
    snap = Snapshot(
        now=NOW,
        clusters=(cluster,),
        states={"a": ClusterState.ACTIVE},
        nodes=(node,),
        used={},
        queued=(),
        device_load={("a", "g1"): {UNKNOWN_DEVICE: 1000}},
    )
    share = Job("s", "d", _gpu_job("s", 250), JobState.QUEUED, NOW, NOW, seq=1)
    ids, why = DeviceBook(snap).assign(share, [node], [(1,)])
    assert ids == () and "held apart" in why
