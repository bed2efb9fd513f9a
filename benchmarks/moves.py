"""Evaluated moves per second of the reassignment search, Python (numpy) against the compiled
kernel, in the same run on the same states (issue 12):

    python -m benchmarks.moves [--instance a2_5] [--generated 5000x100] [--seconds 5]

For each instance -- a ROADEF 2012 set A instance from the data folder (--data, else
$SUANCHOU_BENCHDATA, else ../shared/benchdata) and, with --generated PxM, a stand-in of that
size from benchmarks/tracks/roadef_generate.py -- both searches run late acceptance from the
initial assignment for --seconds each, with the same rules (a random movable job's best shift,
or best swap among 256 random partners; history length 1,000): reassign.py's numpy scoring
(`Reassign.best_shift` / `best_swap`) and the kernel's compiled steps. Printed per side: steps
and evaluated moves per second (a shift step evaluates the job on every other node, a swap step
its 256 partners: the feasibility check plus, where feasible, the exact cost change), the
cost reached, and the kernel's compile or cache-load time (not in its rate). Each side's answer
is re-costed by a fresh Python state; a mismatch exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.__main__ import data_root
from benchmarks.tracks import roadef, roadef_generate
from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.kernel import compiled
from scheduler.placement.search.kernel.arrays import COST, build
from scheduler.placement.search.reassign import Reassign

_SAMPLE = 256
_HISTORY = 1_000
_WEIGHTS = ObjectiveWeights()


@dataclass(frozen=True)
class Rate:
    steps: int
    moves: int
    seconds: float
    cost: int

    def line(self, name: str) -> str:
        return (
            f"  {name:<7} {self.steps / self.seconds:>12,.0f} steps/s "
            f"{self.moves / self.seconds:>14,.0f} moves/s   cost {self.cost:,}"
        )


def python_rate(p: Problem, start: Solution, seconds: float) -> tuple[Rate, Solution]:
    """reassign.py's numpy scoring in a late-acceptance loop with the kernel's rules."""
    state = Reassign(p, start, _WEIGHTS, seed=1)
    jobs, rng = state.movable, state.rng
    past = [state.cost] * _HISTORY
    steps = moves = 0
    began = time.perf_counter()
    deadline = began + seconds
    while steps % 16 or time.perf_counter() < deadline:
        j = jobs[rng.randrange(len(jobs))]
        slot = steps % _HISTORY
        limit = max(past[slot], state.cost) - state.cost + 1
        if rng.random() < 0.5:
            state.best_shift(j, limit)
            moves += p.num_nodes - 1
        else:
            state.best_swap(j, limit, _SAMPLE)
            moves += _SAMPLE
        past[slot] = state.cost
        steps += 1
    rate = Rate(steps, moves, time.perf_counter() - began, state.cost)
    return rate, state.solution()


def kernel_rate(p: Problem, start: Solution, seconds: float) -> tuple[Rate, Solution, float]:
    """The kernel's compiled late-acceptance steps, in chunks of about 10 ms."""
    state = Reassign(p, start, _WEIGHTS, seed=1)
    s, x = build(state)
    compile_s = compiled.warm_up(s, x)
    compiled.seed(1)
    scratch = compiled.Scratch(s, x, _SAMPLE)
    past = np.full(_HISTORY, x.scalars[COST], dtype=np.int64)
    steps, chunk = 0, 64
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        t = time.perf_counter()
        compiled.late_chunk(s, x, scratch, past, steps, chunk, _SAMPLE)
        steps += chunk
        chunk = max(1, min(chunk * 4, int(chunk * 0.01 / max(time.perf_counter() - t, 1e-6))))
    rate = Rate(steps, compiled.scored(x), time.perf_counter() - began, int(x.scalars[COST]))
    return rate, state.solution_with(x.where), compile_s


def _instances(a: argparse.Namespace, scratch: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    root = data_root(a.data)
    if a.instance:
        if root is None:
            sys.exit("benchmarks.moves: no data folder (--data or $SUANCHOU_BENCHDATA)")
        found.append((a.instance, root / "roadef2012" / "A" / f"model_{a.instance}.txt"))
    if a.generated:
        processes, machines = (int(v) for v in a.generated.lower().split("x"))
        shape = roadef_generate.Shape(processes=processes, machines=machines, seed=1)
        name = f"g{processes}x{machines}s1"
        model, _ = roadef_generate.write(roadef_generate.generate(shape), scratch, name)
        found.append((name, model))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.moves", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--instance", default="a2_5", help="ROADEF set A instance, '' for none")
    ap.add_argument("--generated", default="", metavar="PxM", help="e.g. 5000x100, 50000x5000")
    ap.add_argument("--seconds", type=float, default=5.0, help="per side and instance")
    ap.add_argument("--data", type=Path, help="the benchmark data folder")
    a = ap.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores; {a.seconds:g} s per side")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in _instances(a, Path(tmp)):
            inst = roadef.load(model)
            p = roadef.to_problem(inst)
            start = Solution(tuple((m,) for m in inst.initial))
            print(f"{name}: {inst.processes} processes x {inst.machines} machines")
            slow, slow_answer = python_rate(p, start, a.seconds)
            fast, fast_answer, compile_s = kernel_rate(p, start, a.seconds)
            print(slow.line("python"))
            print(fast.line("kernel"), f"  (compile or cache load {compile_s:.2f} s)")
            speedup = (fast.moves / fast.seconds) / max(1.0, slow.moves / slow.seconds)
            print(f"  kernel / python: {speedup:.1f}x evaluated moves per second")
            for rate, answer in ((slow, slow_answer), (fast, fast_answer)):
                again = Reassign(p, answer, _WEIGHTS).cost
                if again != rate.cost:
                    print(
                        f"  MISMATCH: a fresh state costs the answer {again:,}, not {rate.cost:,}"
                    )
                    failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
