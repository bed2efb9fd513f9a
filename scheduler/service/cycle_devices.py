"""Device ids for the replicas a cycle leases, checked against the devices in use.

The engine packs devices (placement/model/problem.py, GPU devices) but does not know which physical
device a running replica holds: it may put running work on other ids in its answer than where
it runs. So the ids it chose for new replicas are taken only where they are free on the real
devices (Snapshot.device_load plus what this cycle leased before); else the replica gets free
ids picked as the engine's baselines pick (whole devices on the lowest empty ids, a share on the
fullest device it fits). A gang for which that fails (running shares split the devices the
engine had joined) is not leased this cycle and waits with a message that says so: a device
is never given above its share. GPU replicas leased before device ids existed (before
migration 0012) may use any device of their node: no device there is given out until they end.
"""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.domain.models import Job, Node
from scheduler.domain.resources import SHARES_PER_DEVICE, device_resource
from scheduler.placement import devices as packing
from scheduler.service.snapshot import UNKNOWN_DEVICE, Snapshot


class DeviceBook:
    """Used thousandths per device of every node with devices, as this cycle leases."""

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._used: dict[tuple[str, str], list[int]] = {}

    def _node(self, node: Node, name: str) -> list[int] | None:
        key = (node.cluster, node.name)
        if key not in self._used:
            cap = node.capacity.get(name, 0)
            if cap <= 0 or cap % SHARES_PER_DEVICE:
                return None
            used = [0] * (cap // SHARES_PER_DEVICE)
            loads = self._snap.device_load.get(key, {})
            if UNKNOWN_DEVICE in loads:
                # Replicas leased before device ids may use any device: none is given out
                # on this node until they end.
                used = [SHARES_PER_DEVICE] * len(used)
            for d, load in loads.items():
                if 0 <= d < len(used):
                    used[d] += load
            self._used[key] = used
        return self._used[key]

    def assign(
        self,
        job: Job,
        nodes: Sequence[Node],
        proposed: Sequence[tuple[int, ...]] | None,
    ) -> tuple[tuple[tuple[int, ...], ...], str]:
        """(device ids per replica, "") and the ids booked; or ((), why) when the gang does
        not fit the free devices, nothing booked. Replicas asking for no device get ()."""
        name = device_resource(job.spec.resources)
        if name is None:
            return tuple(() for _ in nodes), ""
        q = job.spec.resources[name]
        share = SHARES_PER_DEVICE if packing.is_whole(q) else q
        taken: list[tuple[list[int], tuple[int, ...]]] = []
        out: list[tuple[int, ...]] = []
        for i, node in enumerate(nodes):
            used = self._node(node, name)
            if used is None:
                out.append(())  # counted as a plain quantity there: no device ids to give
                continue
            want = tuple(proposed[i]) if proposed is not None and i < len(proposed) else ()
            ids = want if want and _free(used, want, q) else packing.pick(used, q)
            if ids is None:
                for booked, got in taken:
                    for d in got:
                        booked[d] -= share
                return (), (
                    f"{name} devices of {node.cluster}/{node.name} are held apart by running "
                    f"replicas (no device has {q / SHARES_PER_DEVICE:g} free); it waits for them"
                )
            packing.take(used, ids, q)
            taken.append((used, ids))
            out.append(ids)
        return tuple(out), ""


def _free(used: Sequence[int], ids: tuple[int, ...], q: int) -> bool:
    """True if the devices `ids` can take one replica demanding q thousandths."""
    if any(not 0 <= d < len(used) for d in ids) or len(set(ids)) != len(ids):
        return False
    if packing.is_whole(q):
        return len(ids) == q // SHARES_PER_DEVICE and all(used[d] == 0 for d in ids)
    return len(ids) == 1 and used[ids[0]] + q <= SHARES_PER_DEVICE
