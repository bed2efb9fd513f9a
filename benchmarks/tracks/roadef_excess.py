"""Where a ROADEF answer's cost lies above the aggregate lower bound:

    python -m benchmarks.tracks.roadef_excess model_a2_5.txt OUT/solutions/roadef/a2_5.txt [...]

prints, for each answer (or the initial assignment, when none is given), its cost (the track's
evaluator), the aggregate floor (lp/all_placed.py's `cost_floors`, weighted: ROADEF 2012's
published `lower_bound_aggregate`), and then each load and balance term above its floor, the
largest first, with the machines on the wrong side of their safety level that make it so:

- a resource whose total use exceeds the total safety (floor above 0) pays above its floor for
  every unit a machine stays below safety, room the others' excess could have used;
- one whose total use does not (floor 0) pays for every unit a machine is above safety;
- a balance likewise by the sign of each machine's gap.

Then the move costs. Which resource and which machines hold the cost that a search has not
removed is the question before any change to the search (benchmarks/README.md, set A).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.tracks import roadef
from scheduler.placement.index.facts import Facts
from scheduler.placement.lp.all_placed import cost_floors

# Machines listed per term: the furthest on the wrong side.
_SHOWN = 3


@dataclass(frozen=True)
class Term:
    """One load or balance term: its weighted cost, its weighted floor, and the machines on
    the wrong side of their safety level (or of a zero gap), each with how far, unweighted."""

    name: str
    cost: int
    floor: int
    wrong: tuple[tuple[int, int], ...]  # (machine, signed distance), furthest first
    weight: int
    balance: bool

    @property
    def above(self) -> int:
        """Cost above the floor: the weight times the distances of the machines on the wrong
        side, summed (sum max(0, x) - max(0, sum x) is the sum of the other side's terms)."""
        return self.cost - self.floor


def terms(inst: roadef.Instance, sol: roadef.RoadefSolution) -> list[Term]:
    """The load terms, then the balance terms, as the track's evaluator weighs them."""
    floors = cost_floors(Facts(roadef.to_problem(inst)))
    costs = roadef.costs(inst, sol)
    usage = roadef._usage(inst, sol.machine)
    machines = range(inst.machines)
    out = []
    for r in range(inst.resources):
        # Floor above 0: the machines below safety; floor 0: those above it.
        side = 1 if floors.load[r] == 0 else -1
        dist = [(m, usage[m][r] - inst.safety[m][r]) for m in machines]
        wrong = sorted(((m, d) for m, d in dist if side * d > 0), key=lambda x: -abs(x[1]))
        weight = inst.weight_load[r]
        floor = weight * floors.load[r]
        out.append(Term(f"load r{r}", costs.load[r], floor, tuple(wrong), weight, False))
    for b, cost, least in zip(inst.balances, costs.balance, floors.balance, strict=True):
        side = 1 if least == 0 else -1
        gaps = [
            (
                m,
                b.target * (inst.capacity[m][b.r1] - usage[m][b.r1])
                - (inst.capacity[m][b.r2] - usage[m][b.r2]),
            )
            for m in machines
        ]
        wrong = sorted(((m, g) for m, g in gaps if side * g > 0), key=lambda x: -abs(x[1]))
        name = f"balance r{b.r1}/r{b.r2} x{b.target}"
        out.append(Term(name, cost, b.weight * least, tuple(wrong), b.weight, True))
    return out


def report(inst: roadef.Instance, sol: roadef.RoadefSolution, label: str) -> list[str]:
    """The lines `main` prints for one answer."""
    verdict = roadef.evaluate(inst, sol)
    costs = roadef.costs(inst, sol)
    parts = terms(inst, sol)
    floor = sum(t.floor for t in parts)
    above = verdict.objective - floor
    lines = [
        f"{label}: cost {verdict.objective:,}, aggregate floor {floor:,}, {above:,} above it "
        f"({100 * above / max(1, floor):.3f}%), feasible {verdict.feasible}"
    ]
    level = [t.name for t in parts if t.above == 0]
    for t in sorted((t for t in parts if t.above), key=lambda t: -t.above):
        shown = ", ".join(f"m{m} {d:+,}" for m, d in t.wrong[:_SHOWN])
        lines.append(
            f"  {t.name}: {t.above:,} above its floor {t.floor:,}; on the wrong side of "
            f"{'a zero gap' if t.balance else 'safety'}: {len(t.wrong)} of "
            f"{inst.machines} machines, {shown}"
        )
    if level:
        lines.append(f"  at their floors: {', '.join(level)}")
    moved = sum(1 for a, b in zip(inst.initial, sol.machine, strict=True) if a != b)
    lines.append(
        f"  moves: {costs.process_move + costs.service_move + costs.machine_move:,} "
        f"(process {costs.process_move:,}, service {costs.service_move:,}, "
        f"machine {costs.machine_move:,}; {moved} processes moved)"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.tracks.roadef_excess", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("model", type=Path, help="model_<name>.txt (assignment_<name>.txt beside)")
    ap.add_argument("answers", type=Path, nargs="*", help="answers (ROADEF format)")
    a = ap.parse_args(argv)
    inst = roadef.load(a.model)
    answers = [(p.name, roadef.read_solution(p, inst)) for p in a.answers]
    for label, sol in answers or [("initial", roadef.RoadefSolution(inst.initial))]:
        print("\n".join(report(inst, sol, label)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
