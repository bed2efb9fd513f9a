"""Online placement policies for the OpenB trace, from their published descriptions.

Each policy sees the cluster's free resources when a pod arrives and names one node and the
GPU(s) on it (`Choice`), or None when no node can take the pod. Nothing moves afterwards.

A pod fits a node when the node accepts its GPU model (GPU pods need a GPU node whose model is
in `gpu_spec`, or any GPU node when it is empty; CPU-only pods go anywhere), CPU and memory are
free, and either `num_gpu` GPUs are entirely free (whole-GPU pods) or one GPU has `gpu_milli`
free (pods sharing a GPU; a GPU held whole has nothing free). That is the rule of openb.py's
evaluator and of the engine's checker.

Policies (Weng et al., "Beware of Fragmentation", USENIX ATC'23, section 6 baselines):
- `BestFit` -- the tightest node: the smallest weighted free resources left after placing,
  score = 0.5 (cpu_free - cpu) / max_cpu + 0.5 (gpu_free - gpu) / max_gpu (the simulator's
  and kube-scheduler MostAllocated's form, max_* the largest node of the cluster). A share goes
  on the fullest GPU it fits on; whole-GPU pods take the lowest-numbered free GPUs.
- `WorstFit` -- spread (kube-scheduler's LeastAllocated): the same score, largest wins; a share
  goes on the emptiest GPU it fits on.
- `FGD` -- Fragmentation Gradient Descent: the node and GPU(s) whose choice increases the
  expected fragmentation F_n(M) of the node least, F_n(M) as openb.node_fragmentation computes
  it against the target workload M (openb.workload: the popularity of each pod type in the
  replayed list). A share tries every GPU that can hold it and keeps the one with the smallest
  increase; whole-GPU pods take the lowest-numbered free GPUs (all free GPUs are alike for the
  measure). The authors' simulator squashes the increase through a sigmoid into an integer
  score 0..100 and lets kube-scheduler break ties at random; here the exact increase decides.

Ties go to the lowest node index (and, within a node, to the lowest GPU index), so every
policy is deterministic. Nodes in the same state (model, free CPU, memory and sorted GPU
shares) are scored once: the score depends only on that state.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Protocol

from benchmarks.tracks.openb import MILLI, Node, Pod, TaskType, node_fragmentation

Choice = tuple[int, tuple[int, ...]]  # (node index, GPU indices on it)
# A node's state as far as every policy is concerned: model, free CPU, free memory, GPU free
# shares sorted ascending.
Key = tuple[str, int, int, tuple[int, ...]]


def _gpu_fits(free: Sequence[int], pod: Pod) -> bool:
    if pod.num_gpu == 0:
        return True
    if pod.gpu_milli == MILLI:
        return sum(1 for f in free if f == MILLI) >= pod.num_gpu
    return any(f >= pod.gpu_milli for f in free)


def fits(key: Key, pod: Pod) -> bool:
    """True if a node in state `key` can take `pod` (model, CPU, memory, GPUs)."""
    model, cpu, memory, free = key
    if pod.num_gpu and (not model or (pod.gpu_spec and model not in pod.gpu_spec)):
        return False
    return pod.cpu_milli <= cpu and pod.memory_mib <= memory and _gpu_fits(free, pod)


def _after(key: Key, pod: Pod, share_from: int | None) -> Key:
    """The state once `pod` is placed; `share_from`: the free share of the GPU a share takes."""
    model, cpu, memory, free = key
    gpus = list(free)
    if pod.num_gpu and pod.gpu_milli == MILLI:
        for _ in range(pod.num_gpu):
            gpus.remove(MILLI)
            gpus.insert(0, 0)
    elif pod.num_gpu:
        assert share_from is not None
        gpus.remove(share_from)
        bisect.insort(gpus, share_from - pod.gpu_milli)
    return model, cpu - pod.cpu_milli, memory - pod.memory_mib, tuple(gpus)


def _share_options(free: Sequence[int], pod: Pod) -> list[int]:
    """Distinct free shares of the GPUs that can hold a fractional pod, ascending."""
    return sorted({f for f in free if f >= pod.gpu_milli})


class Cluster:
    """Free resources of every node, grouped by state, as pods are placed one by one."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = tuple(nodes)
        self.cpu = [n.cpu_milli for n in nodes]
        self.memory = [n.memory_mib for n in nodes]
        self.gpu_free = [[MILLI] * n.gpus for n in nodes]
        self.max_cpu = max((n.cpu_milli for n in nodes), default=0) or 1
        self.max_gpu = MILLI * max((n.gpus for n in nodes), default=0) or 1
        self.groups: dict[Key, list[int]] = {}  # state -> node indices, ascending
        for i in range(len(nodes)):
            self.groups.setdefault(self.key(i), []).append(i)

    def key(self, i: int) -> Key:
        return (self.nodes[i].model, self.cpu[i], self.memory[i], tuple(sorted(self.gpu_free[i])))

    def candidates(self, pod: Pod) -> list[tuple[Key, int]]:
        """(state, lowest node index in it) for every state that can take `pod`."""
        return [(key, members[0]) for key, members in self.groups.items() if fits(key, pod)]

    def gpu_ids(self, i: int, pod: Pod, share_from: int | None) -> tuple[int, ...]:
        """The lowest-numbered GPU(s) of node i matching the choice in state space."""
        free = self.gpu_free[i]
        if pod.num_gpu == 0:
            return ()
        if pod.gpu_milli == MILLI:
            return tuple([g for g, f in enumerate(free) if f == MILLI][: pod.num_gpu])
        return (free.index(share_from if share_from is not None else -1),)

    def place(self, i: int, pod: Pod, gpus: Sequence[int]) -> None:
        """Takes the pod's resources on node i (the choice must fit)."""
        old = self.key(i)
        members = self.groups[old]
        members.remove(i)
        if not members:
            del self.groups[old]
        self.cpu[i] -= pod.cpu_milli
        self.memory[i] -= pod.memory_mib
        for g in gpus:
            self.gpu_free[i][g] -= pod.gpu_milli
        if (
            self.cpu[i] < 0
            or self.memory[i] < 0
            or any(f < 0 for f in self.gpu_free[i])
            or len(set(gpus)) != pod.num_gpu
        ):
            raise ValueError(f"pod {pod.name} does not fit node {self.nodes[i].name} on {gpus}")
        bisect.insort(self.groups.setdefault(self.key(i), []), i)


class Policy(Protocol):
    name: str

    def choose(self, cluster: Cluster, pod: Pod) -> Choice | None:
        """Where `pod` goes in the cluster's current state, or None if it fits nowhere."""
        ...


def _pick_by_score(
    cluster: Cluster, pod: Pod, score: Callable[[Key], float], gpu_choice: Callable[[Key], int]
) -> Choice | None:
    """The candidate with the smallest (score, node index); its GPUs by `gpu_choice`."""
    best: tuple[float, int, Key] | None = None
    for key, node in cluster.candidates(pod):
        s = score(key)
        if best is None or (s, node) < best[:2]:
            best = (s, node, key)
    if best is None:
        return None
    _, node, key = best
    share = gpu_choice(key) if pod.num_gpu and pod.gpu_milli < MILLI else None
    return node, cluster.gpu_ids(node, pod, share)


class _FitPolicy:
    """Best-fit (sign +1) or worst-fit (sign -1) on the weighted free resources left."""

    name = ""
    sign = 1.0

    def choose(self, cluster: Cluster, pod: Pod) -> Choice | None:
        def left(key: Key) -> float:
            _, cpu, _, free = key
            cpu_left = (cpu - pod.cpu_milli) / cluster.max_cpu
            gpu_left = (sum(free) - pod.gpu_demand) / cluster.max_gpu
            return self.sign * (0.5 * cpu_left + 0.5 * gpu_left)

        def gpu(key: Key) -> int:
            options = _share_options(key[3], pod)
            return options[0] if self.sign > 0 else options[-1]

        return _pick_by_score(cluster, pod, left, gpu)


class BestFit(_FitPolicy):
    """The tightest node (least weighted CPU + GPU left); a share on the fullest GPU it fits."""

    name = "best-fit"
    sign = 1.0


class WorstFit(_FitPolicy):
    """Spread: the loosest node (most weighted CPU + GPU left); a share on the emptiest GPU."""

    name = "worst-fit"
    sign = -1.0


class FGD:
    """Fragmentation Gradient Descent: the least increase of the node's F_n(M)."""

    name = "fgd"

    def __init__(self, tasks: Sequence[TaskType]) -> None:
        self.tasks = tuple(tasks)
        self._frag: dict[Key, float] = {}
        # (state, pod type) -> (increase, free share of the GPU a share takes)
        self._delta: dict[tuple[Key, tuple[int, int, int, int]], tuple[float, int | None]] = {}

    def fragmentation(self, key: Key) -> float:
        """F_n(M) of a node in state `key`, thousandths of a GPU (memoised)."""
        value = self._frag.get(key)
        if value is None:
            model, cpu, memory, free = key
            value = node_fragmentation(cpu, memory, free, model, self.tasks)
            self._frag[key] = value
        return value

    def delta(self, key: Key, pod: Pod) -> tuple[float, int | None]:
        """The least increase of F_n(M) placing `pod` on a node in state `key`, and for a share
        the free share of the GPU that achieves it (ties: the fuller GPU)."""
        memo = (key, (pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli))
        found = self._delta.get(memo)
        if found is not None:
            return found
        before = self.fragmentation(key)
        if pod.num_gpu and pod.gpu_milli < MILLI:
            result: tuple[float, int | None] | None = None
            for share in _share_options(key[3], pod):
                d = self.fragmentation(_after(key, pod, share)) - before
                if result is None or d < result[0]:
                    result = (d, share)
            assert result is not None
        else:
            result = (self.fragmentation(_after(key, pod, None)) - before, None)
        self._delta[memo] = result
        return result

    def choose(self, cluster: Cluster, pod: Pod) -> Choice | None:
        best: tuple[float, int, int | None] | None = None
        for key, node in cluster.candidates(pod):
            d, share = self.delta(key, pod)
            if best is None or (d, node) < best[:2]:
                best = (d, node, share)
        if best is None:
            return None
        _, node, share = best
        return node, cluster.gpu_ids(node, pod, share)
