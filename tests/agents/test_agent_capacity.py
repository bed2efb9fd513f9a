"""Capacity sources: this host, and nodes declared in YAML."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from agents.capacity import (
    HOSTNAME_LABEL,
    HostCapacity,
    NodeInfo,
    StaticCapacity,
    host_devices,
    parse_nodes,
)

NODES_YAML = """
nodes:
  - name: gpu-node-1
    capacity: {cpu: 32, memory: 256Gi, nvidia.com/gpu: 8}
    labels: {arch: x86_64, gpu.model: A100}
  - name: cpu
    count: 3
    capacity: {cpu: "500m", memory: 2G}
"""


def test_host_capacity_matches_this_machine(tmp_path: Path) -> None:
    """The host node has this machine's usable CPUs, MemTotal in MiB, arch and hostname."""
    (node,) = HostCapacity(dev=tmp_path).nodes()
    meminfo = Path("/proc/meminfo").read_text()
    mem_kib = int(
        next(line for line in meminfo.splitlines() if line.startswith("MemTotal:")).split()[1]
    )
    assert node.name == socket.gethostname()
    assert node.capacity == {"cpu": len(os.sched_getaffinity(0)) * 1000, "memory": mem_kib // 1024}
    assert node.capacity["cpu"] <= (os.cpu_count() or 0) * 1000
    assert node.labels == {"arch": platform.machine(), HOSTNAME_LABEL: socket.gethostname()}


def test_yaml_nodes_are_parsed_and_count_expands(tmp_path: Path) -> None:
    """A YAML file yields its nodes in canonical units; `count: 3` yields name-0..name-2."""
    path = tmp_path / "nodes.yaml"
    path.write_text(NODES_YAML)
    nodes = StaticCapacity.from_yaml(path).nodes()
    assert nodes[0] == NodeInfo(
        "gpu-node-1",
        {"cpu": 32000, "memory": 256 * 1024, "nvidia.com/gpu": 8},
        {"arch": "x86_64", "gpu.model": "A100"},
    )
    assert [n.name for n in nodes[1:]] == ["cpu-0", "cpu-1", "cpu-2"]
    assert all(n.capacity == {"cpu": 500, "memory": 1908} and n.labels == {} for n in nodes[1:])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("nodes: [{name: a, capacity: {cpu: 1}}, {name: b, capacity: {memory: 8GB}}]",
         "nodes[1].capacity.memory: '8GB' is not a quantity"),
        ("nodes: [{name: a, capacity: {cpu: -2}}]", "nodes[0].capacity.cpu: must not be negative"),
        ("nodes: [{name: a, capacity: {GPU: 1}}]", "nodes[0].capacity.'GPU': not a resource name"),
        ("nodes: [{name: a}]", "nodes[0].capacity: is required"),
        ("nodes: [{capacity: {cpu: 1}}]", "nodes[0].name: is required"),
        ("nodes: [{name: a, capactiy: {cpu: 1}}]", "nodes[0]: unknown field 'capactiy'"),
        ("nodes: [{name: a, capacity: {cpu: 1}, count: 0}]", "nodes[0].count: must be a whole"),
        ("nodes: [{name: a, capacity: {cpu: 1}, labels: {gpus: 8}}]",
         "nodes[0].labels.gpus: must be a string"),
        ("nodes: [{name: a-1, capacity: {cpu: 1}}, {name: a, count: 2, capacity: {cpu: 1}}]",
         "nodes[1].name: duplicate node name 'a-1' (also nodes[0])"),
        ("nodes: gpu-node-1", "nodes: expected a list"),
        ("node: []", "expected a mapping with exactly one key, 'nodes'"),
    ],
)  # fmt: skip
def test_invalid_node_files_name_the_field(document: str, message: str) -> None:
    """Each validation error names the node index and the field at fault."""
    with pytest.raises(ValueError) as info:
        parse_nodes(yaml.safe_load(document))
    assert str(info.value).startswith(message)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    """Loading an invalid file reports the path before the field."""
    path = tmp_path / "nodes.yaml"
    path.write_text("nodes:\n  - name: a\n    capacity: {memory: 1X}\n")
    with pytest.raises(ValueError, match=r"nodes\.yaml: nodes\[0\]\.capacity\.memory: "):
        StaticCapacity.from_yaml(path)
    path.write_text("nodes: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        StaticCapacity.from_yaml(path)


def test_empty_node_list_offers_nothing() -> None:
    """`nodes: []` is valid and offers no nodes."""
    assert parse_nodes({"nodes": []}) == []


def test_changed_file_is_reread_and_bad_edits_keep_the_last_good_nodes(tmp_path: Path) -> None:
    """An edited file is picked up by the next nodes() call; an invalid edit is logged, ignored."""
    path = tmp_path / "nodes.yaml"
    path.write_text("nodes: [{name: a, capacity: {cpu: 1}}]\n")
    source = StaticCapacity.from_yaml(path)
    assert [n.name for n in source.nodes()] == ["a"]

    path.write_text("nodes: [{name: b, capacity: {cpu: 2}}, {name: c, capacity: {cpu: 2}}]\n")
    os.utime(path, ns=(1, 1))  # a distinct mtime even on coarse-grained file systems
    assert [n.name for n in source.nodes()] == ["b", "c"]

    with capture_logs() as logs:
        path.write_text("nodes: [{name: d, capacity: {cpu: lots}}]\n")
        assert [n.name for n in source.nodes()] == ["b", "c"]
    assert [e["event"] for e in logs] == ["nodes_reload_failed"]
    assert "nodes[0].capacity.cpu" in logs[0]["error"]


def test_host_gpus_are_counted_from_their_device_files(tmp_path: Path) -> None:
    """/dev/nvidia0../dev/nvidiaN are GPUs (nvidiactl and nvidia-uvm are not), /dev/davinciN
    Ascend NPUs: the host node offers that many of each."""
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "davinci0"):
        (tmp_path / name).touch()
    (node,) = HostCapacity(dev=tmp_path).nodes()
    assert node.capacity["nvidia.com/gpu"] == 2 and node.capacity["huawei.com/ascend"] == 1
    assert host_devices(tmp_path / "missing") == {}
