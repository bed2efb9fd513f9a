"""Late acceptance on the compiled kernel: reassign.py's `_late_acceptance`, with the steps
run in compiled chunks between the clock checks."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from scheduler.placement.search.kernel import compiled
from scheduler.placement.search.kernel.arrays import COST, Ints, build
from scheduler.placement.search.reassign import Reassign, window
from scheduler.placement.search.reassign_state import ReassignState

# The same rules as reassign.py: first history length, how long the step rate is measured
# before the length is set, how many history lengths a run should last, swap partners per step.
_LATE_FIRST_LENGTH = 100
_LATE_PROBE_S = 0.5
_LATE_HISTORIES = 200
_LATE_SWAP_SAMPLE = 256
# Steps of the first chunk; later chunks are sized to take about _CHUNK_S each, so the clock
# is read often enough for the deadline and seldom enough to cost nothing.
_FIRST_CHUNK = 64
_CHUNK_S = 0.01
# With a step budget the window (reassign.window) grows in this many blocks of steps.
_WINDOW_BLOCKS = 64


@dataclass(frozen=True)
class LateResult:
    where: Ints  # the best placement seen (reassign_state.py's `where`)
    cost: int  # its cost
    kept: int  # moves kept
    steps: int
    scored: int  # candidate moves scored
    compile_s: float  # compiling or loading the kernel from its cache


def late_acceptance(
    state: ReassignState,
    deadline: float,
    steps: int | None = None,
    seed: int = 0,
    grow: bool = True,
) -> LateResult:
    """Late acceptance from `state` (left as it was) until `deadline` (time.monotonic()) or
    `steps` steps; the history length is sized from the measured step rate like reassign.py's,
    or from `steps`. `grow`: each step's job is drawn from reassign.window's growing window of
    the biggest, else from all the movable jobs."""
    static, dynamic = build(state)
    compile_s = compiled.warm_up(static, dynamic)
    compiled.seed(seed)
    scratch = compiled.Scratch(static, dynamic, _LATE_SWAP_SAMPLE)
    length = _LATE_FIRST_LENGTH
    if steps is not None:
        length = max(length, steps // _LATE_HISTORIES)
    past = np.full(length, dynamic.scalars[COST], dtype=np.int64)
    began = time.monotonic()
    sized = steps is not None
    done = kept = 0
    chunk = _FIRST_CHUNK
    while steps is None or done < steps:
        now = time.monotonic()
        if now >= deadline:
            break
        if not sized and now - began >= _LATE_PROBE_S:
            wanted = int(done / (now - began) * (deadline - began) / _LATE_HISTORIES)
            if wanted > length:
                past = past[np.arange(wanted) % length]
                length = wanted
            sized = True
        todo = chunk if steps is None else min(chunk, steps - done)
        drawn = len(static.movable)
        if grow and steps is None:
            drawn = window(drawn, (now - began) / max(deadline - began, 1e-9))
        elif grow and steps is not None:
            # Chunks end at blocks of steps, and each block draws from the window of its
            # first step: the same steps draw from the same window on every run, however the
            # clock sized the chunks.
            block = max(1, steps // _WINDOW_BLOCKS)
            todo = min(todo, block - done % block)
            drawn = window(drawn, done // block * block / steps)
        t = time.perf_counter()
        kept += compiled.late_chunk(
            static, dynamic, scratch, past, done, todo, _LATE_SWAP_SAMPLE, drawn
        )
        done += todo
        spent = time.perf_counter() - t
        if spent > 0:
            chunk = max(1, min(chunk * 4, int(todo * _CHUNK_S / spent)))
    return LateResult(
        where=scratch.best_placement(dynamic),
        cost=int(scratch.best[0]),
        kept=kept,
        steps=done,
        scored=compiled.scored(dynamic),
        compile_s=compile_s,
    )


# Whether load() has run in this process: numba keeps what it loaded for the process's life.
_loaded = [False]


def load(state: ReassignState) -> float:
    """Loads the kernel (numba, and the machine code from its cache or a compile) on `state`'s
    arrays, once per process: the seconds it took, import included (0 once loaded, so a
    walk's arrays are not built twice on every call)."""
    if _loaded[0]:
        return 0.0
    t = time.perf_counter()
    static, dynamic = build(state)
    compiled.warm_up(static, dynamic)
    _loaded[0] = True
    return time.perf_counter() - t


def late_on_kernel(
    state: Reassign, deadline: float, steps: int | None, seed: int, grow: bool = True
) -> tuple[Reassign, int]:
    """reassign.py's late acceptance on the kernel: the state at the best cost seen, rebuilt by
    the Python search (its own usage and cost, not the kernel's), and the moves kept."""
    run = late_acceptance(state, deadline, steps, seed, grow)
    back = Reassign(state.p, state.solution_with(run.where), state.weights)
    back.rng, back.np_rng = state.rng, state.np_rng
    return back, run.kept
