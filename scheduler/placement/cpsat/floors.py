"""The migration polish's caps, node by node (CpSatModel.polish_migration).

Once every job stays placed, each resource's total usage is fixed, so its load above safety,
summed over the nodes, is at its floor (lp/all_placed.py's `cost_floors`) exactly when no node
stands on the wrong side of its safety level: where the total usage exceeds the total safety
(floor above 0), no node is below its safety; where it does not (floor 0), none is above.
Each balance's shortfall likewise: sum max(0, gap) equals max(0, sum gap) only when every gap
has the sign of the sum. So capping the summed rows at their floors, as the polish does,
admits the same answers as these per-node constraints; CP-SAT, though, propagates a per-node
constraint on the very placement that breaks it, where a cap on a sum of max(0, .) variables
hardly propagates at all.

Measured on ROADEF 2012 a1_5 from four answers at the floors moving 10-12 processes (one
worker): with the summed caps alone the default search found no fewer moves in either of two
tries of about 120 s; with these constraints beside them it found the answer moving 9 in 5-7 s
and proved it the fewest, from each of the four (benchmarks/README.md, "The floors node by
node").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.placement.cpsat.objective import balance_gap
from scheduler.placement.cpsat.variables import Parts


def hold_floors_node_by_node(
    parts: Parts, load: Mapping[int, int], balance: Sequence[int] | None
) -> None:
    """For each resource r in `load` (its floor) and, unless `balance` is None, each weighted
    balance (`balance[b]` its floor): every node of the scope on the side of its safety level,
    or of a zero gap, that the floor allows (module docstring). The polished answer is at the
    floors with every job placed, so it meets them all."""
    model, facts = parts.model, parts.facts
    nodes = sorted(parts.scope.nodes)
    for r, floor in load.items():
        for n in nodes:
            used = parts.usage(n, r)
            if not used.has_vars:
                continue
            safety = facts.safety[n][r]
            model.add(used.expr() >= safety if floor > 0 else used.expr() <= safety)
    if balance is None:
        return
    for b, least in zip(facts.p.balances, balance, strict=True):
        if not b.weight:
            continue
        for n in nodes:
            gap = balance_gap(parts, b, n)
            if gap.has_vars:
                model.add(gap.expr() >= 0 if least > 0 else gap.expr() <= 0)
