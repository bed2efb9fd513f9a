"""OpenB online replay, its policies (best-fit, worst-fit, FGD) and the engine-batch comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tracks import openb
from benchmarks.tracks.openb_policies import FGD, BestFit, Cluster, WorstFit
from benchmarks.tracks.openb_replay import compare, policies, replay, score
from scheduler.placement import check

HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)


def _pod(name: str, cpu: int, num_gpu: int = 0, milli: int = 0, spec: str = "") -> openb.Pod:
    spec_models = tuple(sorted(m for m in spec.split("|") if m))
    return openb.Pod(name, cpu, 1024, num_gpu, milli, spec_models)


def _node(name: str, cpu: int, gpus: int, model: str = "T4") -> openb.Node:
    return openb.Node(name, cpu, 65536, gpus, model if gpus else "")


# A small node with a whole free GPU, and a big node whose only GPU is already half taken.
SHARE = _pod("share", 1000, 1, 500)
WHOLE = _pod("whole", 1000, 1, 1000)


def _half_taken() -> Cluster:
    cluster = Cluster([_node("small", 2000, 1), _node("big", 64000, 1)])
    cluster.place(1, _pod("earlier", 0, 1, 500), (0,))
    return cluster


def test_fgd_keeps_a_whole_gpu_free_where_best_fit_breaks_it() -> None:
    """A half-GPU pod: best-fit takes the CPU-tight node's whole GPU, FGD fills the half GPU."""
    assert BestFit().choose(_half_taken(), SHARE) == (0, (0,))
    fgd = FGD(openb.workload([SHARE, WHOLE]))
    assert fgd.choose(_half_taken(), SHARE) == (1, (0,))
    # The increase FGD minimises: breaking the whole GPU strands 500 for whole-GPU pods (half
    # of M), filling the half GPU removes the 500 that whole-GPU pods could not use.
    cluster = _half_taken()
    small, big = cluster.key(0), cluster.key(1)
    assert fgd.delta(small, SHARE)[1] == 1000 and fgd.delta(big, SHARE)[1] == 500
    assert fgd.delta(small, SHARE)[0] == pytest.approx(250.0)
    assert fgd.delta(big, SHARE)[0] == pytest.approx(-250.0)


def test_fgd_picks_the_gpu_whose_share_fragments_least() -> None:
    """On one node, a 300 share goes to the GPU with 300 free, not into a whole free GPU."""
    cluster = Cluster([_node("n", 64000, 3)])
    cluster.place(0, _pod("a", 0, 1, 700), (1,))
    pod = _pod("p", 1000, 1, 300)
    assert FGD(openb.workload([pod, WHOLE])).choose(cluster, pod) == (0, (1,))


def test_best_fit_packs_and_worst_fit_spreads() -> None:
    """Best-fit picks the tightest node and fullest GPU; worst-fit the loosest node and emptiest
    GPU; whole-GPU pods take the lowest-numbered free GPUs; ineligible models are skipped."""
    cluster = Cluster(
        [_node("cpu", 8000, 0), _node("v100", 96000, 8, "V100M16"), _node("t4", 32000, 2)]
    )
    cluster.place(2, _pod("a", 0, 1, 400), (1,))
    pod = _pod("p", 1000, 1, 500)
    assert BestFit().choose(cluster, pod) == (2, (1,))
    assert WorstFit().choose(cluster, pod) == (1, (0,))
    t4_only = _pod("q", 1000, 1, 500, "T4")
    assert WorstFit().choose(cluster, t4_only) == (2, (0,))
    assert BestFit().choose(cluster, _pod("w", 1000, 2, 1000)) == (1, (0, 1))
    assert BestFit().choose(cluster, _pod("c", 1000)) == (0, ())
    assert BestFit().choose(cluster, _pod("huge", 200000)) is None


def test_cluster_refuses_a_placement_that_does_not_fit() -> None:
    """Placing over a GPU's free share raises instead of corrupting the state."""
    cluster = _half_taken()
    with pytest.raises(ValueError, match="does not fit"):
        cluster.place(1, _pod("x", 0, 1, 600), (0,))


def _tiny(tmp_path: Path) -> openb.Instance:
    """Two T4 nodes of 2 GPUs; an 8-GPU pod that never fits arrives third, small ones after."""
    (tmp_path / openb.NODE_FILE).write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nc0,16000,65536,0,\nn0,16000,65536,2,T4\n"
        "n1,32000,65536,2,T4\n"
    )
    rows = [
        "a,2000,4096,1,500,,LS,Running,1,,",
        "b,2000,4096,1,1000,,LS,Running,2,,",
        "big,4000,4096,8,1000,,LS,Running,3,,",
        "c,2000,4096,0,0,,BE,Running,4,,",
        "d,2000,4096,2,1000,T4,LS,Running,5,,",
        "e,2000,4096,1,500,,LS,Running,6,,",
        "f,2000,4096,1,300,G2,LS,Running,7,,",
    ]
    path = tmp_path / "openb_pod_list_tiny.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return openb.load(path)


def test_replay_output_passes_the_checker_and_the_evaluator(tmp_path: Path) -> None:
    """Every policy's replay is feasible for scheduler.placement.check and openb.evaluate, and
    the shares at the first failure and at the end are the evaluator's."""
    inst = _tiny(tmp_path)
    problem = openb.to_problem(inst)
    for policy in policies(inst):
        run = replay(inst, policy)
        assert check(problem, run.solution) == []
        track = openb.from_solution(inst, problem, run.solution)
        assert openb.evaluate(inst, track) == (True, run.share, [])
        assert run.first_failure == 2  # "big" fits nowhere
        before = openb.OpenbSolution(
            tuple(n if inst.arrival.index(j) < 2 else -1 for j, n in enumerate(track.node)),
            tuple(g if inst.arrival.index(j) < 2 else () for j, g in enumerate(track.gpus)),
        )
        assert run.share_at_first_failure == openb.evaluate(inst, before).objective == 0.375
        assert track.node[inst.pods.index(next(p for p in inst.pods if p.name == "f"))] == -1
    fgd = replay(inst, FGD(openb.workload(inst.pods)))
    assert fgd.share == pytest.approx(4.0 / 4.0)  # a, b, d, e: 0.5 + 1 + 2 + 0.5


def test_compare_scores_every_method_with_the_track_evaluator(tmp_path: Path) -> None:
    """compare returns best-fit, worst-fit, FGD and the engine batches, each scored by openb.py."""
    inst = _tiny(tmp_path)
    rows = compare(inst, time_limit_s=1.0)
    methods = ["best-fit", "worst-fit", "fgd", "engine-batch", "engine+fgd"]
    assert [r.method for r in rows] == methods
    problem = openb.to_problem(inst)
    tasks = openb.workload(inst.pods)
    for row in rows:
        assert 0.0 <= row.share <= 1.0 and row.pods == 7
        assert (row.share_at_first_failure is None) == row.method.startswith("engine")
    for engine in rows[3:]:
        assert engine.share == 1.0 and engine.placed == 5  # the cluster's 4 GPUs all allocated
    fgd_run = replay(inst, FGD(tasks))
    again = score(inst, problem, fgd_run.solution, "fgd", 0.0, tasks)
    assert (again.share, again.fragmentation_gpus) == (rows[2].share, rows[2].fragmentation_gpus)


def test_fgd_beats_best_fit_on_the_default_trace(benchdata: Path) -> None:
    """On the published default trace, FGD's replay is feasible and allocates more GPU than
    best-fit (the paper's finding), both measured by the track's evaluator."""
    inst = openb.load(benchdata / "alibaba_openb_gpu_v2023" / "openb_pod_list_default.csv")
    problem = openb.to_problem(inst)
    tasks = openb.workload(inst.pods)
    fgd = replay(inst, FGD(tasks))
    best = replay(inst, BestFit())
    assert check(problem, fgd.solution) == [] and check(problem, best.solution) == []
    assert fgd.share > best.share > 0.85
    assert fgd.share_at_first_failure <= fgd.share
