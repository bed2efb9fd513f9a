"""With SchedulerSettings.gpu_packing, small GPU work fills GPU nodes already in use, keeping
whole nodes free for gangs; a job preferring 信创 still takes an empty 信创 node before a used
non-信创 one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.domain.models import Constraints, JobSpec, Node
from scheduler.domain.states import RunState
from scheduler.service.agent_sync import RunReport
from scheduler.service.clock import ManualClock
from scheduler.state import Store
from tests.service.conftest import Pool, build_pool, spec

GPU = "nvidia.com/gpu"


@pytest.fixture
def pool(store: Store, clock: ManualClock) -> Pool:
    """The service pool with SchedulerSettings.gpu_packing on."""
    return build_pool(store, clock, gpu_packing=True)


def _gpu_node(cluster: str, name: str) -> Node:
    return Node(cluster, name, {"cpu": 64000, "memory": 65536, GPU: 8}, {})


def _gpu_job(client_id: str, gpus: int, **kw: object) -> JobSpec:
    base = spec(client_id, cpu=1000, **kw)
    return replace(base, resources={**base.resources, GPU: gpus})


def _start(pool: Pool, cluster: str) -> None:
    reply = pool.sync(cluster)
    pool.sync(cluster, [RunReport(lease.run.run_id, RunState.RUNNING) for lease in reply.start])


def test_small_gpu_jobs_fill_a_used_node_and_keep_whole_nodes_free(pool: Pool) -> None:
    """A 1-GPU job runs on cluster z's node; cluster a's node (registered later, first in
    the pool's order) is empty: the next 2-GPU and 4-GPU jobs join the used node, and an
    8-GPU job still finds a's node whole."""
    pool.cluster("z", [_gpu_node("z", "n1")], price={GPU: 12.0})
    [first] = pool.submit(_gpu_job("first", 1))
    pool.cycle.run_once()
    _start(pool, "z")
    pool.cluster("a", [_gpu_node("a", "n1")], price={GPU: 12.0})
    small = pool.submit(_gpu_job("two", 2), _gpu_job("four", 4))
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        assert {tx.jobs.get(j).cluster for j in (first, *small)} == {"z"}
    _start(pool, "z")
    [whole] = pool.submit(_gpu_job("whole", 8))
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        assert tx.jobs.get(whole).cluster == "a"


def test_xinchuang_preference_outweighs_gpu_packing(pool: Pool) -> None:
    """A 2-GPU job preferring 信创 takes the empty 信创 GPU node, not the used ordinary one."""
    pool.cluster("pub", [_gpu_node("pub", "n1")], price={GPU: 12.0})
    [first] = pool.submit(_gpu_job("first", 1))
    pool.cycle.run_once()
    _start(pool, "pub")
    pool.cluster("xc", [_gpu_node("xc", "n1")], xinchuang=True, price={GPU: 12.0})
    prefer = Constraints(xinchuang_preferred=True)
    [prefers, plain] = pool.submit(_gpu_job("prefers", 2, constraints=prefer), _gpu_job("plain", 2))
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        assert tx.jobs.get(first).cluster == "pub"
        assert tx.jobs.get(prefers).cluster == "xc"
        assert tx.jobs.get(plain).cluster == "pub"  # packs onto the used node


@pytest.mark.parametrize("compact", [True, False])
def test_a_gang_keeps_to_one_node_so_a_whole_node_stays_free(
    store: Store, clock: ManualClock, compact: bool
) -> None:
    """SchedulerSettings.compact_gangs (on by default): with a 1-GPU job on one of two 8-GPU
    nodes, a gang of two 4-GPU replicas takes the other node whole, so the first node is
    whole again when the small job ends. Off, best fit puts one replica on the tighter node
    and the second on the other, and no node has 8 GPUs free."""
    pool = build_pool(store, clock, compact_gangs=compact)
    pool.cluster("a", [_gpu_node("a", "n1"), _gpu_node("a", "n2")], price={GPU: 12.0})
    [small] = pool.submit(_gpu_job("small", 1))
    pool.cycle.run_once()
    _start(pool, "a")
    [gang] = pool.submit(_gpu_job("gang", 4, replicas=2))
    pool.cycle.run_once()
    with pool.store.unit(write=False) as tx:
        [busy] = {run.node for run in tx.runs.for_job(small)}
        nodes = sorted(run.node for run in tx.runs.for_job(gang))
    if compact:
        assert len(set(nodes)) == 1 and nodes[0] != busy
    else:
        assert sorted(nodes) == ["n1", "n2"]
