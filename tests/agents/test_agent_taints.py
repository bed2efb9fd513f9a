"""The agent's side of taints: declared in a node file or with --taint, bounded, sent in the
node reports; a lease's tolerations read back from the wire."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.capacity import NodeInfo, StaticCapacity, parse_nodes
from agents.main import EXIT_USAGE, main
from agents.protocol import build_request, lease_from_proto
from agents.taints import (
    MAX_NODE_TAINTS,
    UNSCHEDULABLE_LABEL,
    LeaseToleration,
    NodeTaint,
    TaintedCapacity,
)
from protos.suanchou.v1 import agent_pb2, types_pb2

GPU_ONLY = NodeTaint("dedicated", "gpu", "NoSchedule")


def test_node_file_taints_are_parsed_per_node() -> None:
    """`taints:` in a node entry applies to each numbered node, sorted."""
    nodes = parse_nodes(
        yaml.safe_load(
            "nodes:\n"
            "  - {name: g, count: 2, capacity: {cpu: 8},"
            " taints: [spot:PreferNoSchedule, dedicated=gpu:NoSchedule]}\n"
            "  - {name: plain, capacity: {cpu: 8}}\n"
        )
    )
    assert [n.taints for n in nodes] == [
        (GPU_ONLY, NodeTaint("spot", "", "PreferNoSchedule")),
        (GPU_ONLY, NodeTaint("spot", "", "PreferNoSchedule")),
        (),
    ]


@pytest.mark.parametrize(
    ("taints", "message"),
    [
        ("[dedicated=gpu]", "nodes[0].taints[0]: 'dedicated=gpu': expected KEY[=VALUE]:EFFECT"),
        ("[a b:NoSchedule]", "nodes[0].taints[0]: 'a b:NoSchedule' is not a valid"),
        ("[a:NoSchedule, a=x:NoSchedule]", "nodes[0].taints: two taints with the same key"),
        ("dedicated", "nodes[0].taints: expected a list"),
    ],
)
def test_bad_node_file_taints_name_the_field(taints: str, message: str) -> None:
    """A malformed taint in a node file fails at start, naming the node and the taint."""
    with pytest.raises(ValueError) as err:
        parse_nodes(yaml.safe_load(f"nodes: [{{name: n, capacity: {{cpu: 1}}, taints: {taints}}}]"))
    assert message in str(err.value)


def test_taint_flag_adds_to_every_node_and_keeps_the_nodes_own() -> None:
    """--taint joins each node's taints; a node's own taint of the same key and effect wins."""
    source = StaticCapacity(
        [NodeInfo("a", {"cpu": 1000}), NodeInfo("b", {"cpu": 1000}, {}, (GPU_ONLY,))]
    )
    flagged = TaintedCapacity(source, [NodeTaint.parse("dedicated=x:NoSchedule", "--taint")])
    a, b = flagged.nodes()
    assert a.taints == (NodeTaint("dedicated", "x", "NoSchedule"),)
    assert b.taints == (GPU_ONLY,)


def test_a_node_with_too_many_taints_offers_no_room() -> None:
    """Past the scheduler's bound the node is offered empty, saying why, not cut short."""
    many = tuple(NodeTaint(f"k{i}", "", "NoSchedule") for i in range(MAX_NODE_TAINTS))
    source = StaticCapacity([NodeInfo("a", {"cpu": 1000}, {}, many)])
    (node,) = TaintedCapacity(source, [NodeTaint("extra", "", "NoExecute")]).nodes()
    assert node.capacity == {"cpu": 0} and len(node.taints) == MAX_NODE_TAINTS
    assert node.labels[UNSCHEDULABLE_LABEL] == "too-many-taints"


def test_taints_travel_in_the_node_report_and_tolerations_in_the_lease() -> None:
    """The Sync request carries each node's taints; a lease's tolerations become the Lease's,
    an empty operator read as Equal."""
    request = build_request("agent", [NodeInfo("a", {"cpu": 1000}, {}, (GPU_ONLY,))], [])
    (report,) = request.nodes
    assert [(t.key, t.value, t.effect) for t in report.taints] == [
        ("dedicated", "gpu", "NoSchedule")
    ]
    msg = agent_pb2.RunLease(
        run_id="r",
        job_id="j",
        command=["true"],
        tolerations=[
            types_pb2.Toleration(key="dedicated", value="gpu"),
            types_pb2.Toleration(operator="Exists", effect="NoExecute"),
        ],
    )
    assert lease_from_proto(msg).tolerations == (
        LeaseToleration("dedicated", "Equal", "gpu", ""),
        LeaseToleration("", "Exists", "", "NoExecute"),
    )


def test_a_bad_taint_flag_stops_the_agent_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--taint` without an effect is a usage error (exit 2) naming the flag."""
    monkeypatch.setenv("SUANCHOU_AGENT_TOKEN", "taint-flag-token")
    assert main(["--taint", "dedicated=ai", "--workdir", str(tmp_path / "w")]) == EXIT_USAGE
    assert "--taint: 'dedicated=ai': expected KEY[=VALUE]:EFFECT" in capsys.readouterr().err
