"""OpenB GPU trace track: loader, GPU encoding, mapping, evaluator, fragmentation, files."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tracks import FormatError, openb
from scheduler.placement import job_work
from scheduler.placement.model import Solution

NODES = """sn,cpu_milli,memory_mib,gpu,model
n0,32000,65536,0,
n1,16000,65536,2,T4
n2,64000,131072,8,V100M16
"""
# p0 shares a GPU (500/1000), p1 is CPU-only, p2 takes two whole V100M16 GPUs, p3 one whole
# T4 or G2. Arrival by creation_time: p1 (10), p2 (20), p3 (20, later in the file), p0 (30).
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
PODS = (
    POD_HEADER
    + """p0,4000,8192,1,500,,LS,Running,30,100,30
p1,2000,4096,0,0,,BE,Running,10,50,10
p2,8000,16384,2,1000,V100M16,LS,Pending,20,,
p3,1000,1024,1,1000,T4|G2,LS,Running,20,90,21
"""
)
# A feasible placement: p0 on n1 GPU 0, p1 on n0, p2 on n2 GPUs 0-1, p3 on n1 GPU 1.
PLACED = openb.OpenbSolution(node=(1, 0, 2, 1), gpus=((0,), (), (0, 1), (1,)))


def _load(tmp_path: Path, pods: str = PODS, nodes: str = NODES) -> openb.Instance:
    (tmp_path / openb.NODE_FILE).write_text(nodes)
    path = tmp_path / "openb_pod_list_small.csv"
    path.write_text(pods)
    return openb.load(path)


@pytest.fixture
def small(tmp_path: Path) -> openb.Instance:
    return _load(tmp_path)


def test_load_decodes_gpu_counts_shares_and_models(small: openb.Instance) -> None:
    """num_gpu x gpu_milli is the GPU demand; gpu_spec lists allowed models; nodes keep models."""
    assert small.name == "small"
    assert [p.gpu_demand for p in small.pods] == [500, 0, 2000, 1000]
    assert small.pods[3].gpu_spec == ("G2", "T4") and small.pods[0].gpu_spec == ()
    assert small.pods[2].scheduled_time is None and small.pods[3].scheduled_time == 21
    assert small.nodes[1] == openb.Node("n1", 16000, 65536, 2, "T4")
    assert small.models == ("", "T4", "V100M16") and small.gpu_capacity == 10_000


def test_arrival_follows_creation_time_or_the_file(tmp_path: Path) -> None:
    """Pods arrive by creation time, ties in file order; without times, or on request, by file."""
    assert _load(tmp_path).arrival == (1, 2, 3, 0)
    untimed = "".join(",".join(line.split(",")[:5]) + "\n" for line in PODS.splitlines())
    assert _load(tmp_path, pods=untimed).arrival == (0, 1, 2, 3)
    path = tmp_path / "openb_pod_list_small.csv"
    assert openb.load(path, order="file").arrival == (0, 1, 2, 3)


def test_to_problem_uses_gpu_devices_models_and_arrival_rank(small: openb.Instance) -> None:
    """GPUs are devices of 1000; eligibility follows GPU need and models; order is arrival."""
    p = openb.to_problem(small)
    assert p.resources == ("cpu_milli", "memory_mib", "gpu_milli") and p.gpu_resource == 2
    assert p.node_capacity == ((32000, 65536, 0), (16000, 65536, 2000), (64000, 131072, 8000))
    assert p.node_devices == (0, 2, 8) and p.node_type == (0, 1, 2)
    assert p.job_demand[0] == (4000, 8192, 500) and p.job_demand[2] == (8000, 16384, 2000)
    assert p.job_order == (3, 0, 1, 2)
    assert [p.node_sets[k] for k in p.job_nodes] == [(1, 2), (0, 1, 2), (2,), (1,)]
    assert p.job_required == () and p.job_names == ("p0", "p1", "p2", "p3")


def test_to_problem_values_the_gpu_share_only(small: openb.Instance) -> None:
    """The work term is the GPU share: 64 * 1000 * gpu / 2000 (the largest demand) per GPU
    pod, 32 per thousandth of a GPU here; a CPU-only pod weighs the floor of 1."""
    p = openb.to_problem(small)
    assert p.resource_value == (0, 0, 64) == openb.RESOURCE_VALUE
    assert job_work(p) == (16_000, 1, 64_000, 32_000)


def test_evaluate_reports_the_allocated_share_of_gpu_capacity(small: openb.Instance) -> None:
    """A feasible placement scores the placed GPU demand over the cluster's GPU capacity."""
    assert openb.evaluate(small, PLACED) == (True, 0.35, [])
    nothing = openb.OpenbSolution(node=(-1,) * 4, gpus=((),) * 4)
    assert openb.evaluate(small, nothing) == (True, 0.0, [])


@pytest.mark.parametrize(
    ("node", "gpus", "broken"),
    [
        ((-1, -1, 1, -1), ((), (), (0, 1), ()), "pod p2 on n1: GPU model T4 not in V100M16"),
        (
            (1, -1, -1, 1),
            ((0,), (), (), (0,)),
            "pod p3 on n1: GPU 0 is not free for a whole-GPU pod",
        ),
        (
            (1, -1, -1, 1),
            ((1,), (), (), (1,)),
            "pod p3 on n1: GPU 1 is not free for a whole-GPU pod",
        ),
        ((-1, -1, 2, -1), ((), (), (0,), ()), "pod p2 on n2: needs 2 distinct GPUs, given [0]"),
        ((-1, -1, 2, -1), ((), (), (0, 8), ()), "pod p2 on n2: GPU 8 out of 0..7"),
        ((1, 1, -1, -1), ((0,), (), (), ()), None),
        ((5, -1, -1, -1), ((0,), (), (), ()), "pod p0: node index 5 out of range"),
    ],
)
def test_evaluate_names_each_broken_rule(
    small: openb.Instance,
    node: tuple[int, ...],
    gpus: tuple[tuple[int, ...], ...],
    broken: str | None,
) -> None:
    """Wrong GPU model, whole GPUs shared, wrong GPU counts and bad indices are violations."""
    feasible, _, violations = openb.evaluate(small, openb.OpenbSolution(node, gpus))
    if broken is None:
        assert (feasible, violations) == (True, [])
    else:
        assert not feasible and broken in violations, violations


def test_evaluate_catches_oversubscribed_shares_and_cpu(tmp_path: Path) -> None:
    """Shares of one GPU above 1000 and CPU above capacity are violations."""
    pods = PODS + "p4,15000,1024,1,600,,LS,Running,40,50,40\n"
    inst = _load(tmp_path, pods=pods)
    sol = openb.OpenbSolution(node=(1, 1, -1, -1, 1), gpus=((0,), (), (), (), (0,)))
    feasible, _, violations = openb.evaluate(inst, sol)
    assert not feasible
    assert "node n1: GPU 0 shares sum to 1100 > 1000" in violations
    assert "node n1: CPU or memory over capacity (5000 milli CPU, 0 MiB over)" in violations


def test_node_fragmentation_follows_the_papers_cases() -> None:
    """CPU-only and unrunnable task types see every idle GPU share as fragmented; runnable
    ones only the GPUs that cannot give them their per-GPU share."""
    cpu_only = openb.TaskType(1000, 0, 0, 0, (), 0.25)
    share = openb.TaskType(1000, 0, 1, 500, (), 0.5)
    two_whole = openb.TaskType(1000, 0, 2, 1000, (), 0.25)
    free = [1000, 300, 600, 0]  # idle 1,900
    # 0.25 * 1900 (CPU-only) + 0.5 * 300 (the 300 share is too small) + 0.25 * 1900 (one free GPU)
    assert openb.node_fragmentation(8000, 1 << 20, free, "T4", [cpu_only, share, two_whole]) == 1100
    # Not enough CPU: nothing can run, so everything idle is fragmented.
    assert openb.node_fragmentation(500, 1 << 20, free, "T4", [cpu_only, share, two_whole]) == 1900
    # Not enough memory or a GPU model the task refuses: the same.
    assert (
        openb.node_fragmentation(8000, 0, free, "T4", [openb.TaskType(0, 1, 1, 500, (), 1.0)])
        == 1900
    )
    v100 = openb.TaskType(0, 0, 1, 500, ("V100M16",), 1.0)
    assert openb.node_fragmentation(8000, 0, free, "T4", [v100]) == 1900
    # A whole-GPU task finds every partly used GPU fragmented: 300 + 600.
    one_whole = openb.TaskType(0, 0, 1, 1000, (), 1.0)
    assert openb.node_fragmentation(8000, 0, free, "T4", [one_whole]) == 900
    assert openb.node_fragmentation(8000, 0, [0, 0], "T4", [cpu_only]) == 0


def test_cluster_fragmentation_against_the_pod_lists_own_workload(small: openb.Instance) -> None:
    """Worked by hand: the four pods are four types of popularity 1/4 each."""
    empty = openb.OpenbSolution(node=(-1,) * 4, gpus=((),) * 4)
    # n1 (T4, idle 2000): p1 (CPU-only) and p2 (V100M16 only) see 2000 -> 1000; n2 (V100M16,
    # idle 8000): p1 and p3 (T4|G2 only) see 8000 -> 4000.
    frag = openb.fragmentation(small, empty)
    assert (frag.fragmented_milli, frag.idle_milli, frag.capacity_milli) == (5000, 10_000, 10_000)
    assert frag.gpus == 5 and frag.rate == 0.5 and frag.share_of_capacity == 0.5
    # n1 left [500, 0]: p0 fits (0), p1/p2/p3 see all 500 -> 375; n2 left [0, 0, 1000 x 6]:
    # p0 and p2 fit with nothing too small (0), p1 and p3 see 6000 -> 3000.
    frag = openb.fragmentation(small, PLACED)
    assert (frag.fragmented_milli, frag.idle_milli) == (3375, 6500)


def test_from_solution_and_the_solution_file_round_trip(
    small: openb.Instance, tmp_path: Path
) -> None:
    """Devices become GPU indices; the file has `pod node gpus` lines and reads back equal."""
    p = openb.to_problem(small)
    solution = Solution(
        assignment=((1,), (0,), (2,), None),
        devices=(((0,),), ((),), ((0, 1),), None),
    )
    sol = openb.from_solution(small, p, solution)
    assert sol == openb.OpenbSolution(node=(1, 0, 2, -1), gpus=((0,), (), (0, 1), ()))
    path = tmp_path / "sol.txt"
    openb.write_solution(path, small, sol)
    assert path.read_text() == "p0 n1 0\np1 n0\np2 n2 0,1\np3\n"
    assert openb.read_solution(path, small) == sol


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p0 n1 0\np1 n0\np2 n2 0,1\n", r"1 pods missing, first p3"),
        ("p0 n1 0\np0 n0\n", r"sol\.txt:2: pod p0 listed twice"),
        ("px n1\n", r"sol\.txt:1: unknown pod 'px'"),
        ("p0 n9\n", r"sol\.txt:1: unknown node 'n9'"),
        ("p0 n1 a\n", r"sol\.txt:1: GPU indices 'a' are not integers"),
        ("p0 n1 0 1\n", r"sol\.txt:1: expected `pod \[node \[gpu,gpu,...\]\]`"),
    ],
)
def test_read_solution_rejects_bad_lines(
    small: openb.Instance, tmp_path: Path, text: str, message: str
) -> None:
    """Unknown names, repeats, missing pods and bad GPU lists are named with their line."""
    path = tmp_path / "sol.txt"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        openb.read_solution(path, small)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("p9,1000,1024,2,500,,LS,Running,1,2,3", r"2 GPUs of 500 thousandths each"),
        ("p9,1000,1024,0,500,,LS,Running,1,2,3", r"num_gpu 0 with gpu_milli 500"),
        ("p9,1000,1024,1,1001,,LS,Running,1,2,3", r"num_gpu 1 with gpu_milli 1001"),
        ("p9,x,1024,1,500,,LS,Running,1,2,3", r"cpu_milli: expected an integer, found 'x'"),
        ("p0,1000,1024,1,500,,LS,Running,1,2,3", r"pod name 'p0' is empty or repeated"),
        ("p9,1000,1024,1,500", r"expected 11 fields"),
    ],
)
def test_load_rejects_pods_outside_the_trace_encoding(
    tmp_path: Path, row: str, message: str
) -> None:
    """Bad GPU encodings, non-integers, repeated names and short rows name file and line."""
    with pytest.raises(FormatError, match=rf"openb_pod_list_small\.csv:6: {message}"):
        _load(tmp_path, pods=PODS + row + "\n")


def test_load_rejects_gpu_nodes_without_a_model(tmp_path: Path) -> None:
    """A node with GPUs but no model cannot be matched against gpu_spec, so it is refused."""
    with pytest.raises(FormatError, match=r"openb_node_list_all_node\.csv:4: node n2 has 8 GPUs"):
        _load(tmp_path, nodes=NODES.replace("8,V100M16", "8,"))


def test_published_trace_and_variants_load(benchdata: Path) -> None:
    """The real cluster and all five pod lists load with the README's counts."""
    assert openb.instances(benchdata)[0][0] == "default"
    found = dict(openb.instances(benchdata))
    assert set(found) == {"default", "cpu050", "gpushare40", "gpuspec10", "multigpu20"}
    inst = openb.load(found["default"])
    assert len(inst.nodes) == 1523 and len(inst.pods) == 8152
    assert sum(1 for n in inst.nodes if n.gpus == 0) == 310
    assert inst.gpu_capacity == 6212 * 1000
    assert set(inst.models) == {"", "G2", "T4", "P100", "V100M16", "G3", "V100M32", "A10"}
    assert sum(1 for p in inst.pods if p.num_gpu == 1 and p.gpu_milli < 1000) == 3078
    assert inst.arrival == tuple(range(8152))  # the default list is in creation order
    spec = openb.load(found["gpuspec10"])
    assert sum(1 for p in spec.pods if p.gpu_spec) == 732
    multi = openb.load(found["multigpu20"])  # five columns, no times: file order
    assert len(multi.pods) == 8324 and multi.arrival == tuple(range(8324))
    problem = openb.to_problem(spec)
    assert problem.num_nodes == 1523 and problem.num_jobs == 8152
    empty = openb.OpenbSolution(node=(-1,) * 8152, gpus=((),) * 8152)
    assert openb.evaluate(spec, empty) == (True, 0.0, [])
