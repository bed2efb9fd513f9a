"""The typed way into the compiled kernel (_kernel.py, numba).

numba compiles on the first call of a process and caches the machine code beside the modules
(`cache=True`; NUMBA_CACHE_DIR moves it), so only the first process after an install or an
edit pays the compile (`warm_up` does it on purpose and says how long it took). Importing this
module imports numba (about half a second): the engine imports it only when the kernel runs.
"""

from __future__ import annotations

import time

import numpy as np

from scheduler.placement.search.kernel import _kernel
from scheduler.placement.search.kernel.arrays import SCORED, Dynamic, Ints, Static

EXACT_TRIES: int = _kernel.EXACT_TRIES


def seed(value: int) -> None:
    """Seeds the kernel's random numbers (numba's own generator, one per process)."""
    _kernel.seed(value)


def shift_delta(s: Static, x: Dynamic, j: int, b: int) -> int | None:
    """The exact cost change of j's shift to node b; None if the move breaks capacity,
    eligibility or anti-affinity (spread and dependencies are checked by the trial only)."""
    delta = int(_kernel.evaluate(s, x, j, -1, b))
    return None if delta == _kernel.NONE else delta


def swap_delta(s: Static, x: Dynamic, j: int, k: int) -> int | None:
    """The exact cost change of j and k trading nodes; None as for shift_delta."""
    delta = int(_kernel.evaluate(s, x, j, k, int(x.where[k])))
    return None if delta == _kernel.NONE else delta


def try_shift(s: Static, x: Dynamic, j: int, b: int) -> bool:
    """Applies j's shift to b if it is feasible (spread and dependencies included): whether
    it was."""
    return bool(_kernel.try_move(s, x, j, -1, b))


def try_swap(s: Static, x: Dynamic, j: int, k: int) -> bool:
    """Like try_shift for a swap."""
    return bool(_kernel.try_move(s, x, j, k, int(x.where[k])))


class Scratch:
    """The per-search buffers of the compiled steps: candidate deltas and targets, the best
    placement seen and its cost."""

    def __init__(self, s: Static, x: Dynamic, sample: int) -> None:
        size = max(s.cap.shape[0], len(s.movable), sample) + 1
        self.deltas: Ints = np.zeros(size, dtype=np.int64)
        self.targets: Ints = np.zeros(size, dtype=np.int64)
        self.best_where: Ints = x.where.copy()
        self.best: Ints = np.array([x.scalars[0]], dtype=np.int64)
        self.keep: Ints = np.array([1], dtype=np.int64)

    def best_placement(self, x: Dynamic) -> Ints:
        """Where every job is in the best state seen."""
        return x.where.copy() if self.keep[0] == 1 else self.best_where.copy()


def late_chunk(
    s: Static,
    x: Dynamic,
    scratch: Scratch,
    past: Ints,
    step0: int,
    steps: int,
    sample: int,
    window: int = 0,
) -> int:
    """`steps` late-acceptance steps (_kernel.late_chunk), each job drawn from the first
    `window` of s.movable (biggest first; 0: all of them): the number of moves kept."""
    return int(
        _kernel.late_chunk(
            s,
            x,
            past,
            step0,
            steps,
            sample,
            scratch.deltas,
            scratch.targets,
            scratch.best_where,
            scratch.best,
            scratch.keep,
            window if 0 < window <= len(s.movable) else len(s.movable),
        )
    )


def scored(x: Dynamic) -> int:
    """Candidate moves scored since the state was built."""
    return int(x.scalars[SCORED])


def warm_up(s: Static, x: Dynamic) -> float:
    """Compiles (or loads from the cache) every entry point on a copy of the state: the
    seconds it took."""
    t = time.perf_counter()
    copy = Dynamic(*(a.copy() for a in x))
    scratch = Scratch(s, copy, 1)
    seed(0)
    late_chunk(s, copy, scratch, np.zeros(1, dtype=np.int64), 0, 1, 1)
    j = int(s.movable[0])
    shift_delta(s, copy, j, int(copy.where[j]))
    try_shift(s, copy, j, int(copy.where[j]))
    return time.perf_counter() - t
