"""Capacity sources: what nodes an agent offers.

`HostCapacity` offers this machine as one node; `StaticCapacity` offers the nodes declared in a
YAML file (several virtual nodes on one host, or a description of machines the executor reaches).
`agents.slurm.capacity.SlurmCapacity` implements the same `CapacitySource` protocol from a
Slurm partition.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog
import yaml

from agents.quantities import CPU, MEMORY, parse_quantity
from agents.taints import MAX_NODE_TAINTS, NodeTaint

HOSTNAME_LABEL = "suanchou.io/hostname"
ARCH_LABEL = "arch"

# Limits the scheduler applies to node reports; checked here so a bad file fails at start.
MAX_NODE_NAME = 253
MAX_LABELS = 64
MAX_LABEL_LEN = 128
MAX_COUNT = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

log = structlog.get_logger("suanchou.agent.capacity")


@dataclass(frozen=True)
class NodeInfo:
    """One node as offered to the scheduler, quantities in canonical units."""

    name: str
    capacity: Mapping[str, int]
    labels: Mapping[str, str] = field(default_factory=dict)
    # Sorted; reported to the scheduler, which keeps untolerating jobs off (agents.taints).
    taints: tuple[NodeTaint, ...] = ()


class CapacitySource(Protocol):
    """Where the agent's node list comes from.

    `nodes()` is called before every sync, so it must be cheap and not block; it returns the
    complete current list (an empty list means the cluster offers nothing right now). It should
    not raise for transient trouble: keep returning the last good answer and log instead.
    """

    def nodes(self) -> list[NodeInfo]: ...


def _host_cpus() -> int:
    # The affinity mask is what this process (and so its children) may actually use, e.g. under
    # taskset or a cpuset; os.cpu_count() counts every CPU of the machine.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _host_memory_mib(meminfo: Path) -> int:
    try:
        text = meminfo.read_text()
    except OSError:
        # Not Linux: the page count is the portable POSIX answer.
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            # Round down: offering memory the machine does not have would overcommit it.
            return kib // 1024
    raise ValueError(f"{meminfo}: no MemTotal line")


# Device files the drivers create, one per device: /dev/nvidia0.. (NVIDIA; /dev/nvidiactl and
# /dev/nvidia-uvm are not devices) and /dev/davinci0.. (Ascend). Their numbers are the ids
# CUDA_VISIBLE_DEVICES / ASCEND_RT_VISIBLE_DEVICES take.
_DEVICE_FILES = {
    "nvidia.com/gpu": re.compile(r"^nvidia[0-9]+$"),
    "huawei.com/ascend": re.compile(r"^davinci[0-9]+$"),
}


def host_devices(dev: Path = Path("/dev")) -> dict[str, int]:
    """Devices of this machine by resource name, counted from their device files."""
    try:
        names = [p.name for p in dev.iterdir()]
    except OSError:
        return {}
    counts = {r: sum(1 for n in names if pattern.match(n)) for r, pattern in _DEVICE_FILES.items()}
    return {r: n for r, n in counts.items() if n}


class HostCapacity:
    """This machine as one node: its usable CPUs, total memory and GPUs/NPUs (their device
    files in `dev`), labelled with arch and host."""

    def __init__(
        self,
        hostname: str | None = None,
        meminfo: Path = Path("/proc/meminfo"),
        dev: Path = Path("/dev"),
    ) -> None:
        self._hostname = hostname or socket.gethostname()
        self._meminfo = meminfo
        self._dev = dev
        self.nodes()  # fail at start, not at the first sync

    def nodes(self) -> list[NodeInfo]:
        capacity = {CPU: _host_cpus() * 1000, MEMORY: _host_memory_mib(self._meminfo)}
        capacity.update(host_devices(self._dev))
        labels = {ARCH_LABEL: platform.machine(), HOSTNAME_LABEL: self._hostname}
        return [NodeInfo(self._hostname, capacity, labels)]


class StaticCapacity:
    """A fixed list of nodes, optionally read from a YAML file that is re-read when it changes.

    When a changed file is invalid, the previous nodes stay offered and the error is logged:
    an editing mistake must not withdraw a cluster's whole capacity.
    """

    def __init__(self, nodes: Sequence[NodeInfo], path: Path | None = None) -> None:
        self._nodes = list(nodes)
        self._path = path
        self._stamp = _stamp(path) if path is not None else None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], *, watch: bool = True) -> StaticCapacity:
        """Reads `path` now (ValueError naming the file and field if invalid)."""
        path = Path(path)
        return cls(load_nodes(path), path if watch else None)

    def nodes(self) -> list[NodeInfo]:
        if self._path is not None:
            stamp = _stamp(self._path)
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._nodes = load_nodes(self._path)
                    log.info("nodes_reloaded", path=str(self._path), nodes=len(self._nodes))
                except (OSError, ValueError) as exc:
                    log.error("nodes_reload_failed", path=str(self._path), error=str(exc))
        return list(self._nodes)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def load_nodes(path: Path) -> list[NodeInfo]:
    """Nodes declared in a YAML file; ValueError("<path>: nodes[1].capacity.memory: ...")."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_nodes(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def parse_nodes(data: object) -> list[NodeInfo]:
    """Validates the `{nodes: [...]}` document; errors name the node index and field."""
    if not isinstance(data, dict) or set(data) != {"nodes"}:
        raise ValueError("expected a mapping with exactly one key, 'nodes' (a list of nodes)")
    entries = data["nodes"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ValueError("nodes: expected a list")
    nodes: list[NodeInfo] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for node in _parse_entry(entry, f"nodes[{index}]"):
            if node.name in seen:
                raise ValueError(
                    f"nodes[{index}].name: duplicate node name {node.name!r} "
                    f"(also nodes[{seen[node.name]}])"
                )
            seen[node.name] = index
            nodes.append(node)
    return nodes


_FIELDS = ("name", "capacity", "labels", "taints", "count")


def _parse_entry(entry: object, where: str) -> list[NodeInfo]:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping with name and capacity")
    unknown = sorted(str(k) for k in entry if k not in _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(_FIELDS)})")

    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.name: is required (a non-empty string)")
    if name != name.strip() or _CONTROL.search(name) or len(name) > MAX_NODE_NAME:
        raise ValueError(
            f"{where}.name: {name!r} must be at most {MAX_NODE_NAME} printable characters "
            "without surrounding spaces"
        )

    raw_capacity = entry.get("capacity")
    if not isinstance(raw_capacity, dict) or not raw_capacity:
        raise ValueError(f"{where}.capacity: is required (e.g. {{cpu: 8, memory: 32Gi}})")
    capacity: dict[str, int] = {}
    for resource, value in raw_capacity.items():
        try:
            capacity[str(resource)] = parse_quantity(str(resource), value)
        except ValueError as exc:
            raise ValueError(f"{where}.capacity.{exc}") from None

    labels = _parse_labels(entry.get("labels"), f"{where}.labels")
    taints = _parse_taints(entry.get("taints"), f"{where}.taints")

    count = entry.get("count")
    if count is None:
        return [NodeInfo(name, capacity, labels, taints)]
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"{where}.count: must be a whole number 1-{MAX_COUNT}, got {count!r}")
    if len(f"{name}-{count - 1}") > MAX_NODE_NAME:
        raise ValueError(f"{where}.name: too long once numbered (at most {MAX_NODE_NAME})")
    return [NodeInfo(f"{name}-{i}", capacity, labels, taints) for i in range(count)]


def _parse_taints(raw: object, where: str) -> tuple[NodeTaint, ...]:
    """`[dedicated=gpu:NoSchedule, spot:PreferNoSchedule]`: at most MAX_NODE_TAINTS, one per
    key and effect."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_NODE_TAINTS:
        raise ValueError(
            f"{where}: expected a list of at most {MAX_NODE_TAINTS} KEY[=VALUE]:EFFECT"
        )
    taints = [NodeTaint.parse(str(t), f"{where}[{i}]") for i, t in enumerate(raw)]
    if len({(t.key, t.effect) for t in taints}) < len(taints):
        raise ValueError(f"{where}: two taints with the same key and effect")
    return tuple(sorted(taints))


def _parse_labels(raw: object, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping of label to value")
    if len(raw) > MAX_LABELS:
        raise ValueError(f"{where}: at most {MAX_LABELS} labels, got {len(raw)}")
    labels: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > MAX_LABEL_LEN or _CONTROL.search(key):
            raise ValueError(f"{where}: label name {key!r} must be 1-{MAX_LABEL_LEN} characters")
        if not isinstance(value, str):
            raise ValueError(
                f"{where}.{key}: must be a string, got {value!r} (quote numbers and booleans)"
            )
        if len(value) > MAX_LABEL_LEN or _CONTROL.search(value):
            raise ValueError(f"{where}.{key}: at most {MAX_LABEL_LEN} printable characters")
        labels[key] = value
    return labels
