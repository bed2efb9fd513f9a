"""GPU devices inside one node, for the greedy baselines: which devices a replica takes.

A node's devices are a list of used shares (0..1000). A whole-device replica (q a multiple of
1000) takes q/1000 empty devices; a fractional one (0 < q < 1000) takes a share of one device.
Used shares of 1000 mean "full", whether taken whole or filled by shares: either way nothing
else fits there, so the two need not be told apart.
"""

from __future__ import annotations

from collections.abc import Sequence

SHARES_PER_DEVICE = 1000


def is_whole(q: int) -> bool:
    """True if a GPU demand of q thousandths asks for whole devices."""
    return q > 0 and q % SHARES_PER_DEVICE == 0


def room(used: Sequence[int]) -> tuple[int, int]:
    """(1000 x empty devices, largest free share of any device): what the next replica can get.

    The first bounds whole-device demands, the second fractional ones; the greedy's node search
    compares them with the demand like any other resource.
    """
    empty = 0
    best = 0
    for u in used:
        if u == 0:
            empty += 1
        free = SHARES_PER_DEVICE - u
        if free > best:
            best = free
    return empty * SHARES_PER_DEVICE, best


def pick(used: Sequence[int], q: int) -> tuple[int, ...] | None:
    """Devices for one replica demanding q on a node whose devices have `used` shares.

    Whole devices: the lowest-numbered empty ones. A share: the fullest device it still fits on,
    so partly used devices fill up before an empty one is broken into (less fragmentation).
    None if the replica does not fit.
    """
    if q <= 0:
        return ()
    if is_whole(q):
        count = q // SHARES_PER_DEVICE
        empty = [d for d, u in enumerate(used) if u == 0]
        return tuple(empty[:count]) if len(empty) >= count else None
    best: int | None = None
    for d, u in enumerate(used):
        if u + q <= SHARES_PER_DEVICE and (best is None or u > used[best]):
            best = d
    return None if best is None else (best,)


def take(used: list[int], ids: Sequence[int], q: int) -> None:
    """Marks the devices `ids` (from `pick`) as used by one replica demanding q."""
    share = SHARES_PER_DEVICE if is_whole(q) else q
    for d in ids:
        used[d] += share
