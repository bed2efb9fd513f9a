"""`SlurmCapacity`: the nodes of one Slurm partition, as a `CapacitySource`.

A node offers what Slurm has not allocated to anyone else: its CPUs (CPUEfctv, i.e. without
specialised cores), RealMemory and GRES GPUs, minus every allocation that is not a job of this
agent (work Slurm runs outside suanchou counts as used), plus what the scheduler itself counts
for this agent's own running jobs (it subtracts those again; a 500m run holds a whole CPU in
Slurm, and the difference must not be offered twice). Labels: `arch`, `suanchou.io/hostname`,
`slurm.partition`, `gpu.model` for a typed GPU GRES, and `slurm.feature/<name>: "true"` per
available feature. Drained, draining, down, failing, not responding, powered-off and
maintenance nodes are not offered: the scheduler places nothing on them (jobs already running
there go on).

`nodes()` asks Slurm at most every `refresh` seconds and keeps the last good answer when Slurm
does not answer (the agent's loop must not stall or withdraw a cluster over one slow call).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import structlog

from agents.capacity import ARCH_LABEL, HOSTNAME_LABEL, MAX_LABEL_LEN, MAX_LABELS, NodeInfo
from agents.quantities import CPU, MEMORY
from agents.slurm.commands import SlurmCommands, SlurmError, quote
from agents.slurm.jobs import GPU, HOLDING, list_jobs, owned_resources
from agents.slurm.parse import ParseError, gres_list, integer, key_values, node_state, require

PARTITION_LABEL = "slurm.partition"
GPU_MODEL_LABEL = "gpu.model"
FEATURE_LABEL = "slurm.feature/"
# States in which a node takes new work; everything else (DOWN, FUTURE, UNKNOWN...) does not.
_USABLE = frozenset({"IDLE", "MIXED", "ALLOCATED", "COMPLETING", "PLANNED"})
_UNUSABLE_FLAGS = frozenset(
    {
        "DRAIN",
        "DRAINING",
        "DRAINED",
        "FAIL",
        "FAILING",
        "MAINT",
        "NOT_RESPONDING",
        "NO_RESPOND",
        "POWER",
        "POWER_DOWN",
        "POWERED_DOWN",
        "POWERING_DOWN",
        "POWERING_UP",
        "REBOOT",
        "REBOOT_ISSUED",
        "REBOOT_REQUESTED",
        "INVAL",
    }
)
_LABEL_TEXT = re.compile(r"^[A-Za-z0-9_.\-/]+$")

log = structlog.get_logger("suanchou.agent.slurm")


def default_partition(cli: SlurmCommands) -> str:
    """The partition sbatch uses without -p (the one marked Default=YES)."""
    for line in cli.run(["scontrol", "show", "partition", "--oneliner"]).splitlines():
        fields = key_values(line)
        if fields.get("Default") == "YES":
            return require(fields, "PartitionName", "scontrol show partition")
    raise SlurmError("no default partition in Slurm: pass --partition")


class SlurmCapacity:
    """The schedulable nodes of `partition` (see the module docstring)."""

    def __init__(
        self,
        cli: SlurmCommands,
        partition: str,
        agent_key: str,
        *,
        refresh: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cli = cli
        self.partition = partition
        self._agent_key = agent_key
        self._refresh = refresh
        self._clock = clock
        self._nodes: list[NodeInfo] = []
        self._at = float("-inf")
        self._nodes = self.read()  # fail at start (no Slurm, unknown partition), not later
        self._at = self._clock()

    def nodes(self) -> list[NodeInfo]:
        if self._clock() - self._at >= self._refresh:
            self._at = self._clock()
            try:
                self._nodes = self.read()
            except (SlurmError, ParseError) as exc:
                log.warning("slurm_nodes_unavailable", error=str(exc), kept=len(self._nodes))
        return list(self._nodes)

    def read(self) -> list[NodeInfo]:
        """Asks Slurm now; SlurmError/ParseError when it cannot answer or says nonsense."""
        text = self._cli.run(["scontrol", "show", "node", "--details", "--oneliner"])
        ours = self._own_allocations()
        nodes: list[NodeInfo] = []
        seen_partition = False
        for line in text.splitlines():
            if not line.strip() or line.startswith("No nodes"):
                continue
            fields = key_values(line)
            name = require(fields, "NodeName", "scontrol show node")
            where = f"node {quote(name, 64)}"
            partitions = fields.get("Partitions", "").split(",")
            if self.partition not in partitions:
                continue
            seen_partition = True
            base, flags = node_state(require(fields, "State", where))
            if base not in _USABLE or flags & _UNUSABLE_FLAGS:
                log.debug("slurm_node_unschedulable", node=name, state=fields["State"])
                continue
            nodes.append(self._node(name, fields, where, ours.get(name, {})))
        if not seen_partition:
            # Slurm lists a partition's nodes even while they are down; none means a typo.
            raise SlurmError(f"partition {quote(self.partition, 64)} has no nodes in Slurm")
        return nodes

    def _own_allocations(self) -> dict[str, dict[str, int]]:
        """node -> what the scheduler counts for this agent's jobs holding resources there."""
        per_node: dict[str, dict[str, int]] = {}
        for job in list_jobs(self._cli, HOLDING):
            resources = owned_resources(job.comment, self._agent_key)
            if resources is None or not job.nodes or "," in job.nodes or "[" in job.nodes:
                continue  # not ours, or not a single-node replica of ours
            total = per_node.setdefault(job.nodes, {})
            for key, value in resources.items():
                total[key] = total.get(key, 0) + value
        return per_node

    def _node(
        self, name: str, fields: dict[str, str], where: str, ours: dict[str, int]
    ) -> NodeInfo:
        cpu_key = "CPUEfctv" if "CPUEfctv" in fields else "CPUTot"
        cpus = integer(fields, cpu_key, where)
        cpu_free = max(0, cpus - integer(fields, "CPUAlloc", where)) * 1000
        memory = integer(fields, "RealMemory", where)
        memory_free = max(0, memory - integer(fields, "AllocMem", where))
        capacity = {
            CPU: min(cpus * 1000, cpu_free + ours.get(CPU, 0)),
            MEMORY: min(memory, memory_free + ours.get(MEMORY, 0)),
        }
        labels = {
            ARCH_LABEL: fields.get("Arch", ""),
            HOSTNAME_LABEL: fields.get("NodeHostName", name),
            PARTITION_LABEL: self.partition,
        }
        gpus = [g for g in gres_list(fields.get("Gres", ""), f"{where}.Gres") if g.name == "gpu"]
        if gpus:
            total = sum(g.count for g in gpus)
            used = sum(
                g.count
                for g in gres_list(fields.get("GresUsed", ""), f"{where}.GresUsed")
                if g.name == "gpu"
            )
            capacity[GPU] = min(total, max(0, total - used) + ours.get(GPU, 0))
            models = sorted({g.type for g in gpus if g.type})
            if len(models) == 1:
                labels[GPU_MODEL_LABEL] = models[0]
        features = fields.get("AvailableFeatures", "(null)")
        if features not in ("", "(null)"):
            for feature in sorted(set(features.split(","))):
                key = FEATURE_LABEL + feature
                if len(labels) >= MAX_LABELS:
                    log.warning("slurm_features_truncated", node=name, kept=len(labels))
                    break
                if _LABEL_TEXT.match(feature) and len(key) <= MAX_LABEL_LEN:
                    labels[key] = "true"
        return NodeInfo(name, capacity, {k: v[:MAX_LABEL_LEN] for k, v in labels.items() if v})
