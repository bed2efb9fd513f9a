"""Job file keys and `job submit` flags for tolerations and cluster choice, into Constraints.

    constraints:
      tolerations: [dedicated=gpu:NoSchedule, spot, "*:NoExecute"]
      clusters: [gov-a, gov-b]              # only these clusters (cluster affinity)
      cluster_selector: {owner: 交通局}      # only clusters registered with these labels
      preferred_clusters: [gov-b, gov-a]    # best first; others when these have no room

A toleration is `KEY=VALUE[:EFFECT]` (operator Equal), `KEY[:EFFECT]` (Exists: any value),
`*[:EFFECT]` (every taint), or a mapping {key, operator, value, effect} as in the proto.
Without an effect it tolerates every effect. The scheduler validates the values.
"""

from __future__ import annotations

from collections.abc import Mapping

from protos.suanchou.v1 import types_pb2
from scheduler.cli.errors import CliError

KEYS = ("tolerations", "clusters", "preferred_clusters", "cluster_selector")
_TOLERATION_KEYS = ("key", "operator", "value", "effect")


def toleration(text: str) -> types_pb2.Toleration:
    """`KEY=VALUE[:EFFECT]`, `KEY[:EFFECT]` or `*[:EFFECT]` (module docstring)."""
    spec, _, effect = text.partition(":")
    key, eq, value = spec.partition("=")
    if key == "*" and not eq:
        return types_pb2.Toleration(operator="Exists", effect=effect)
    if eq:
        return types_pb2.Toleration(key=key, operator="Equal", value=value, effect=effect)
    return types_pb2.Toleration(key=key, operator="Exists", effect=effect)


def fill_choice(target: types_pb2.Constraints, data: Mapping[str, object], where: str) -> None:
    """Adds the `tolerations`, `clusters` and `preferred_clusters` of `data` to `target`."""
    if "tolerations" in data:
        items = data["tolerations"]
        if not isinstance(items, list):
            raise CliError(f"{where}.tolerations: must be a list, e.g. [dedicated=gpu:NoSchedule]")
        for i, item in enumerate(items):
            target.tolerations.append(_toleration(item, f"{where}.tolerations[{i}]"))
    for key in ("clusters", "preferred_clusters"):
        if key in data:
            names = data[key]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CliError(f"{where}.{key}: must be a list of cluster names")
            getattr(target, key).extend(names)
    if "cluster_selector" in data:
        labels = data["cluster_selector"]
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise CliError(f"{where}.cluster_selector: must be a mapping of label: value strings")
        target.cluster_selector.update(labels)


def _toleration(item: object, where: str) -> types_pb2.Toleration:
    if isinstance(item, str):
        return toleration(item)
    if isinstance(item, Mapping):
        unknown = sorted(str(k) for k in item if k not in _TOLERATION_KEYS)
        if unknown or not all(isinstance(v, str) for v in item.values()):
            raise CliError(f"{where}: keys are {', '.join(_TOLERATION_KEYS)}, each a string")
        return types_pb2.Toleration(**{str(k): str(v) for k, v in item.items()})
    raise CliError(f"{where}: must be KEY=VALUE:EFFECT or a mapping, got {item!r:.40}")


def flag_choice(
    tolerations: list[str],
    clusters: list[str],
    preferred: list[str],
    selector: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The job-file constraint keys equivalent to --toleration, --cluster, --prefer-cluster
    (comma-separated, order kept) and --cluster-selector."""
    out: dict[str, object] = {}
    if selector:
        out["cluster_selector"] = dict(selector)
    if tolerations:
        out["tolerations"] = list(tolerations)
    if clusters:
        out["clusters"] = [c for value in clusters for c in value.split(",") if c]
    if preferred:
        out["preferred_clusters"] = [c for value in preferred for c in value.split(",") if c]
    return out


def toleration_text(t: types_pb2.Toleration) -> str:
    """The flag's form of a toleration (the inverse of `toleration`)."""
    head = (t.key or "*") if t.operator == "Exists" else f"{t.key}={t.value}"
    return f"{head}:{t.effect}" if t.effect else head
