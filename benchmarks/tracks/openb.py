"""Alibaba GPU cluster trace 2023 ("OpenB"; Weng et al., "Beware of Fragmentation: Scheduling
GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC 2023).

Files: a node list `sn,cpu_milli,memory_mib,gpu,model` (model empty on CPU-only nodes) and a pod
list `name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,qos,pod_phase,creation_time,
deletion_time,scheduled_time]`. GPU demand is encoded as a count and a per-GPU share:
num_gpu = 0 (and gpu_milli = 0) is a CPU-only pod; num_gpu = 1 with gpu_milli < 1000 shares one
GPU (gpu_milli thousandths of it); gpu_milli = 1000 asks for num_gpu whole GPUs. A pod's total
GPU demand is num_gpu * gpu_milli. gpu_spec lists the allowed GPU models separated by `|`
(empty: any). The trace has no multi-GPU fractional pods; the loader rejects them.

Arrival order: by creation_time, ties in file order; a list without a creation_time for every
pod (multigpu20 has no time columns) arrives in file order. The default trace's file order is
its creation order; in the resampled cpu050 and gpushare40 lists it is not, and
`load(..., order="file")` replays the file as it stands.

Mapping: nodes with resources (cpu_milli, memory_mib, gpu_milli), gpu_resource = 2,
node_devices = GPU count, node_type = index of the GPU model in `Instance.models`; pods are
optional 1-replica jobs (demand cpu, memory, num_gpu * gpu_milli), job_order = arrival rank,
eligible nodes = the GPU nodes of an allowed model (GPU pods) or every node (CPU-only pods).
The objective is the GPU share: resource_value = (0, 0, GPU_VALUE) gives all of the work
term's value budget to the GPU (validate.MAX_RESOURCE_VALUE = 64), so a GPU pod's work is
ceil(64 * 1000 * gpu_demand / largest gpu_demand) -- exactly 8 per thousandth of a GPU when the
largest pod asks for 8 GPUs, as in every pod list of the trace (exact whenever the largest
demand divides 64 GPUs). A CPU-only pod weighs 1 (the engine's floor on a job's size): a
tie-breaker worth 1/8 of a thousandth of a GPU, so the engine places CPU-only pods only where
they cost no GPU allocation, up to that rounding (all 1,088 CPU-only pods of the default list
together weigh less than 0.14 GPU).

Measures (of a placement, e.g. once no further pod fits):
- allocation: the share of the cluster's GPU capacity allocated to placed pods (the objective);
- fragmentation, as the paper defines it (section 3). For a node n whose GPUs g have unallocated
  shares R_g and a task type m: if m asks for no GPU, or cannot run on n at all (not enough CPU
  or memory, a GPU model it does not accept, or fewer than num_gpu GPUs each with at least its
  per-GPU share free), every unallocated GPU share of n is fragmented: F_n(m) = sum_g R_g.
  Otherwise only the GPUs that cannot give m its per-GPU share are: F_n(m) = sum of R_g over g
  with R_g < min(gpu_milli, 1000). Against a target workload M of task types with popularity
  p_m (their share of M's tasks): F_n(M) = sum_m p_m F_n(m), and the cluster's fragmentation is
  F(M) = sum_n F_n(M). Here M is the replayed pod list itself, types keyed by (cpu, memory,
  num_gpu, gpu_milli, allowed models). Reported in GPUs, as a share of the unallocated GPU
  capacity (fragmentation rate) and of the total GPU capacity. Reading notes: the paper's
  figures draw only CPU and GPU; memory is a resource the trace gives and the task cannot run
  without, so it counts under "cannot run" (the authors' simulator leaves memory out, which
  only matters for the few pods that ask for more memory than a node has free). The simulator
  also truncates M to its most popular types; here M is complete.

Solution file: one line per pod in file order, `pod_name node_name gpu_indices`, gpu_indices
comma-separated (e.g. `0,3`); CPU-only pods end after the node name, unplaced pods after their
own name.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchmarks.tracks import Evaluation, FormatError
from scheduler.placement import MAX_RESOURCE_VALUE
from scheduler.placement.model import Problem, Solution

MILLI = 1000
NODE_FILE = "openb_node_list_all_node.csv"
POD_PREFIX = "openb_pod_list_"
CPU, MEMORY, GPU = 0, 1, 2
# The work term's value per resource (model.Problem.resource_value): the GPU share only.
GPU_VALUE = MAX_RESOURCE_VALUE
RESOURCE_VALUE = (0, 0, GPU_VALUE)
_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
_POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


@dataclass(frozen=True)
class Node:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str  # "" on CPU-only nodes


@dataclass(frozen=True)
class Pod:
    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int  # per GPU, 0..1000
    gpu_spec: tuple[str, ...] = ()  # allowed GPU models, sorted; () = any
    qos: str = ""
    phase: str = ""
    creation_time: int | None = None
    deletion_time: int | None = None
    scheduled_time: int | None = None

    @property
    def gpu_demand(self) -> int:
        """Total GPU demand in thousandths of a GPU."""
        return self.num_gpu * self.gpu_milli


@dataclass(frozen=True)
class Instance:
    name: str
    nodes: tuple[Node, ...]
    pods: tuple[Pod, ...]
    arrival: tuple[int, ...]  # pod indices in arrival order

    @property
    def models(self) -> tuple[str, ...]:
        """Distinct node GPU models, sorted ("" = CPU-only)."""
        return tuple(sorted({n.model for n in self.nodes}))

    @property
    def gpu_capacity(self) -> int:
        """Total GPU capacity in thousandths of a GPU."""
        return MILLI * sum(n.gpus for n in self.nodes)


@dataclass(frozen=True)
class OpenbSolution:
    node: tuple[int, ...]  # [pod] node index, -1 = unplaced
    gpus: tuple[tuple[int, ...], ...]  # [pod] GPU indices on that node


@dataclass(frozen=True)
class TaskType:
    """One kind of pod in a target workload, with its popularity (share of the tasks)."""

    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]
    popularity: float


@dataclass(frozen=True)
class Fragmentation:
    fragmented_milli: float  # F(M), thousandths of a GPU
    idle_milli: int  # unallocated GPU capacity
    capacity_milli: int

    @property
    def gpus(self) -> float:
        return self.fragmented_milli / MILLI

    @property
    def rate(self) -> float:
        """Fragmented share of the unallocated GPU capacity."""
        return self.fragmented_milli / self.idle_milli if self.idle_milli else 0.0

    @property
    def share_of_capacity(self) -> float:
        return self.fragmented_milli / self.capacity_milli if self.capacity_milli else 0.0


def instances(root: Path) -> list[tuple[str, Path]]:
    """`default` first, then the resampled variants (gpushare40, multigpu20, ...)."""
    base = root / "alibaba_openb_gpu_v2023"
    found = [(f.stem.removeprefix(POD_PREFIX), f) for f in base.glob(f"{POD_PREFIX}*.csv")]
    if not found:
        raise FileNotFoundError(f"{base}: no {POD_PREFIX}*.csv pod lists")
    return sorted(found, key=lambda item: (item[0] != "default", item[0]))


# -- loading ------------------------------------------------------------------------------------


def _table(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(f"{path}:1: missing column(s) {', '.join(missing)}")
        for row in reader:
            if None in row or any(v is None for v in row.values()):
                raise FormatError(
                    f"{path}:{reader.line_num}: expected {len(reader.fieldnames or [])} fields"
                )
            yield reader.line_num, row


def _int(path: Path, line: int, row: dict[str, str], column: str, low: int = 0) -> int:
    text = row[column]
    try:
        value = int(text)
    except ValueError:
        raise FormatError(f"{path}:{line}: {column}: expected an integer, found {text!r}") from None
    if value < low:
        raise FormatError(f"{path}:{line}: {column}: must be >= {low}, found {value}")
    return value


def _maybe_int(path: Path, line: int, row: dict[str, str], column: str) -> int | None:
    return _int(path, line, row, column) if row.get(column) else None


def load_nodes(path: Path) -> tuple[Node, ...]:
    nodes: list[Node] = []
    names: set[str] = set()
    for line, row in _table(path, _NODE_COLUMNS):
        node = Node(
            name=row["sn"],
            cpu_milli=_int(path, line, row, "cpu_milli"),
            memory_mib=_int(path, line, row, "memory_mib"),
            gpus=_int(path, line, row, "gpu"),
            model=row["model"].strip(),
        )
        if not node.name or node.name in names:
            raise FormatError(f"{path}:{line}: node name {node.name!r} is empty or repeated")
        if node.gpus and not node.model:
            raise FormatError(f"{path}:{line}: node {node.name} has {node.gpus} GPUs but no model")
        names.add(node.name)
        nodes.append(node)
    if not nodes:
        raise FormatError(f"{path}: no nodes")
    return tuple(nodes)


def _pod(path: Path, line: int, row: dict[str, str]) -> Pod:
    num_gpu = _int(path, line, row, "num_gpu")
    gpu_milli = _int(path, line, row, "gpu_milli")
    if gpu_milli > MILLI or (num_gpu == 0) != (gpu_milli == 0):
        raise FormatError(
            f"{path}:{line}: num_gpu {num_gpu} with gpu_milli {gpu_milli}: expected both 0, "
            f"or num_gpu >= 1 with gpu_milli in 1..{MILLI}"
        )
    if num_gpu > 1 and gpu_milli != MILLI:
        raise FormatError(
            f"{path}:{line}: {num_gpu} GPUs of {gpu_milli} thousandths each: shares of several "
            "GPUs are not in the trace's encoding (multi-GPU pods take whole GPUs)"
        )
    spec = row.get("gpu_spec") or ""
    return Pod(
        name=row["name"],
        cpu_milli=_int(path, line, row, "cpu_milli"),
        memory_mib=_int(path, line, row, "memory_mib"),
        num_gpu=num_gpu,
        gpu_milli=gpu_milli,
        gpu_spec=tuple(sorted({m.strip() for m in spec.split("|") if m.strip()})),
        qos=row.get("qos") or "",
        phase=row.get("pod_phase") or "",
        creation_time=_maybe_int(path, line, row, "creation_time"),
        deletion_time=_maybe_int(path, line, row, "deletion_time"),
        scheduled_time=_maybe_int(path, line, row, "scheduled_time"),
    )


def load(
    path: Path,
    nodes: Path | None = None,
    name: str | None = None,
    order: Literal["creation", "file"] = "creation",
) -> Instance:
    """A pod list and its cluster (default: openb_node_list_all_node.csv beside it)."""
    node_path = nodes or path.with_name(NODE_FILE)
    pods: list[Pod] = []
    names: set[str] = set()
    for line, row in _table(path, _POD_COLUMNS):
        pod = _pod(path, line, row)
        if not pod.name or pod.name in names:
            raise FormatError(f"{path}:{line}: pod name {pod.name!r} is empty or repeated")
        names.add(pod.name)
        pods.append(pod)
    timed = order == "creation" and all(p.creation_time is not None for p in pods)
    arrival = sorted(range(len(pods)), key=lambda i: (pods[i].creation_time or 0) if timed else i)
    return Instance(
        name=name or path.stem.removeprefix(POD_PREFIX),
        nodes=load_nodes(node_path),
        pods=tuple(pods),
        arrival=tuple(arrival),
    )


# -- mapping ------------------------------------------------------------------------------------


def _eligible(inst: Instance, pod: Pod) -> tuple[int, ...]:
    if pod.num_gpu == 0:
        return tuple(range(len(inst.nodes)))
    return tuple(
        n
        for n, node in enumerate(inst.nodes)
        if node.gpus and (not pod.gpu_spec or node.model in pod.gpu_spec)
    )


def to_problem(inst: Instance) -> Problem:
    n_nodes, n_pods = len(inst.nodes), len(inst.pods)
    models = inst.models
    sets: dict[tuple[int, ...], int] = {}
    job_nodes = []
    by_spec: dict[tuple[bool, tuple[str, ...]], int] = {}
    for pod in inst.pods:
        key = (pod.num_gpu > 0, pod.gpu_spec)
        if key not in by_spec:
            by_spec[key] = sets.setdefault(_eligible(inst, pod), len(sets))
        job_nodes.append(by_spec[key])
    rank = [0] * n_pods
    for position, pod_index in enumerate(inst.arrival):
        rank[pod_index] = position
    return Problem(
        resources=("cpu_milli", "memory_mib", "gpu_milli"),
        node_capacity=tuple((n.cpu_milli, n.memory_mib, MILLI * n.gpus) for n in inst.nodes),
        node_group=(0,) * n_nodes,
        group_cost=((0, 0, 0),),
        node_sets=tuple(sets),
        job_demand=tuple((p.cpu_milli, p.memory_mib, p.gpu_demand) for p in inst.pods),
        job_replicas=(1,) * n_pods,
        job_priority=(0,) * n_pods,
        job_order=tuple(rank),
        job_nodes=tuple(job_nodes),
        node_type=tuple(models.index(n.model) for n in inst.nodes),
        node_devices=tuple(n.gpus for n in inst.nodes),
        gpu_resource=GPU,
        resource_value=RESOURCE_VALUE,
        node_names=tuple(n.name for n in inst.nodes),
        job_names=tuple(p.name for p in inst.pods),
        meta=(("track", "openb"), ("instance", inst.name)),
    )


def from_solution(inst: Instance, problem: Problem, solution: Solution) -> OpenbSolution:
    if len(solution.assignment) != len(inst.pods):
        raise ValueError(f"solution has {len(solution.assignment)} jobs, trace {len(inst.pods)}")
    nodes: list[int] = []
    gpus: list[tuple[int, ...]] = []
    for j, assigned in enumerate(solution.assignment):
        nodes.append(assigned[0] if assigned else -1)
        per_replica = solution.devices[j] if j < len(solution.devices) else None
        gpus.append(tuple(per_replica[0]) if assigned and per_replica else ())
    return OpenbSolution(node=tuple(nodes), gpus=tuple(gpus))


# -- measures -----------------------------------------------------------------------------------


@dataclass
class _NodeState:
    cpu: int
    memory: int
    gpu_free: list[int]
    whole: list[bool]  # a GPU held whole by a pod


def _states(inst: Instance, sol: OpenbSolution, violations: list[str]) -> list[_NodeState]:
    """Free resources per node after the placement; what breaks a rule goes to `violations`."""
    states = [
        _NodeState(n.cpu_milli, n.memory_mib, [MILLI] * n.gpus, [False] * n.gpus)
        for n in inst.nodes
    ]
    for pod, n, gpus in zip(inst.pods, sol.node, sol.gpus, strict=True):
        if n == -1:
            continue
        if not 0 <= n < len(inst.nodes):
            violations.append(f"pod {pod.name}: node index {n} out of range")
            continue
        node, state = inst.nodes[n], states[n]
        who = f"pod {pod.name} on {node.name}"
        if pod.gpu_spec and node.model not in pod.gpu_spec:
            violations.append(
                f"{who}: GPU model {node.model or 'none'} not in {'|'.join(pod.gpu_spec)}"
            )
        state.cpu -= pod.cpu_milli
        state.memory -= pod.memory_mib
        if len(gpus) != pod.num_gpu or len(set(gpus)) != len(gpus):
            violations.append(f"{who}: needs {pod.num_gpu} distinct GPUs, given {list(gpus)}")
        for g in set(gpus):
            if not 0 <= g < node.gpus:
                violations.append(f"{who}: GPU {g} out of 0..{node.gpus - 1}")
                continue
            if state.whole[g]:
                violations.append(f"{who}: GPU {g} is held whole by another pod")
            elif pod.gpu_milli == MILLI and state.gpu_free[g] < MILLI:
                violations.append(f"{who}: GPU {g} is not free for a whole-GPU pod")
            state.whole[g] = state.whole[g] or pod.gpu_milli == MILLI
            state.gpu_free[g] -= pod.gpu_milli
    for node, state in zip(inst.nodes, states, strict=True):
        if state.cpu < 0 or state.memory < 0:
            violations.append(
                f"node {node.name}: CPU or memory over capacity "
                f"({-min(state.cpu, 0)} milli CPU, {-min(state.memory, 0)} MiB over)"
            )
        for g, free in enumerate(state.gpu_free):
            if free < 0:
                violations.append(
                    f"node {node.name}: GPU {g} shares sum to {MILLI - free} > {MILLI}"
                )
    return states


def evaluate(inst: Instance, sol: OpenbSolution) -> Evaluation:
    """Feasibility (CPU, memory, per-GPU shares, whole GPUs exclusive, GPU models) and the share
    of the cluster's GPU capacity allocated to placed pods."""
    violations: list[str] = []
    if len(sol.node) != len(inst.pods) or len(sol.gpus) != len(inst.pods):
        return Evaluation(
            False, 0.0, [f"solution lists {len(sol.node)} pods, trace {len(inst.pods)}"]
        )
    _states(inst, sol, violations)
    allocated = sum(p.gpu_demand for p, n in zip(inst.pods, sol.node, strict=True) if n != -1)
    capacity = inst.gpu_capacity
    return Evaluation(not violations, allocated / capacity if capacity else 0.0, violations)


def workload(pods: Sequence[Pod]) -> tuple[TaskType, ...]:
    """The target workload of the fragmentation measure: pod types with their popularity."""
    counts = Counter((p.cpu_milli, p.memory_mib, p.num_gpu, p.gpu_milli, p.gpu_spec) for p in pods)
    total = sum(counts.values())
    return tuple(
        TaskType(cpu, mem, num, milli, spec, count / total)
        for (cpu, mem, num, milli, spec), count in sorted(counts.items())
    )


def node_fragmentation(
    cpu_free: int, memory_free: int, gpu_free: Sequence[int], model: str, tasks: Sequence[TaskType]
) -> float:
    """F_n(M) of one node, in thousandths of a GPU (the paper's definition; module docstring)."""
    idle = sum(gpu_free)
    if idle == 0:
        return 0.0
    total = 0.0
    for task in tasks:
        if task.num_gpu == 0:
            frag = idle
        else:
            fits = (
                task.cpu_milli <= cpu_free
                and task.memory_mib <= memory_free
                and (not task.gpu_spec or model in task.gpu_spec)
                and sum(1 for free in gpu_free if free >= task.gpu_milli) >= task.num_gpu
            )
            need = min(task.gpu_milli, MILLI)
            frag = sum(free for free in gpu_free if free < need) if fits else idle
        total += task.popularity * frag
    return total


def fragmentation(
    inst: Instance, sol: OpenbSolution, tasks: Sequence[TaskType] | None = None
) -> Fragmentation:
    """Cluster fragmentation F(M) of a placement (default M: the instance's own pod list)."""
    target = workload(inst.pods) if tasks is None else tasks
    states = _states(inst, sol, [])
    memo: dict[tuple[int, int, tuple[int, ...], str], float] = {}
    total = 0.0
    for node, state in zip(inst.nodes, states, strict=True):
        # Many nodes are in the same state (empty, full); the measure ignores GPU order.
        key = (state.cpu, state.memory, tuple(sorted(state.gpu_free)), node.model)
        if key not in memo:
            memo[key] = node_fragmentation(key[0], key[1], key[2], key[3], target)
        total += memo[key]
    idle = sum(max(0, free) for s in states for free in s.gpu_free)
    return Fragmentation(total, idle, inst.gpu_capacity)


# -- solution files -----------------------------------------------------------------------------


def write_solution(path: Path, inst: Instance, sol: OpenbSolution) -> None:
    lines = []
    for pod, n, gpus in zip(inst.pods, sol.node, sol.gpus, strict=True):
        if n == -1:
            lines.append(pod.name)
        elif gpus:
            lines.append(f"{pod.name} {inst.nodes[n].name} {','.join(map(str, gpus))}")
        else:
            lines.append(f"{pod.name} {inst.nodes[n].name}")
    path.write_text("".join(f"{line}\n" for line in lines))


def read_solution(path: Path, inst: Instance) -> OpenbSolution:
    pod_index = {p.name: j for j, p in enumerate(inst.pods)}
    node_index = {n.name: i for i, n in enumerate(inst.nodes)}
    nodes: list[int | None] = [None] * len(inst.pods)
    gpus: list[tuple[int, ...]] = [()] * len(inst.pods)
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{line_no}"
        if len(fields) > 3:
            raise FormatError(f"{where}: expected `pod [node [gpu,gpu,...]]`, found {line!r}")
        j = pod_index.get(fields[0])
        if j is None:
            raise FormatError(f"{where}: unknown pod {fields[0]!r}")
        if nodes[j] is not None:
            raise FormatError(f"{where}: pod {fields[0]} listed twice")
        if len(fields) == 1:
            nodes[j] = -1
            continue
        n = node_index.get(fields[1])
        if n is None:
            raise FormatError(f"{where}: unknown node {fields[1]!r}")
        nodes[j] = n
        if len(fields) == 3:
            try:
                gpus[j] = tuple(int(g) for g in fields[2].split(","))
            except ValueError:
                raise FormatError(f"{where}: GPU indices {fields[2]!r} are not integers") from None
    missing = [inst.pods[j].name for j, n in enumerate(nodes) if n is None]
    if missing:
        raise FormatError(f"{path}: {len(missing)} pods missing, first {missing[0]}")
    return OpenbSolution(node=tuple(n if n is not None else -1 for n in nodes), gpus=tuple(gpus))
