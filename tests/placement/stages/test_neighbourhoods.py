"""The neighbourhood stages where running work may move: the first walk, then rounds of LNS or
another walk (stages/neighbourhoods.py, `_alternate`)."""

from __future__ import annotations

import pytest

from scheduler.placement.judges.verify import check
from scheduler.placement.model.params import EngineParams
from scheduler.placement.stages.neighbourhoods import next_round
from tests.placement.build import ROADEF
from tests.placement.engine.helpers import solve_with_events


def test_each_kind_is_tried_once_lns_first_then_the_faster_one() -> None:
    assert next_round({}) == "lns"
    assert next_round({"lns": 5.0}) == "walk"
    assert next_round({"lns": 5.0, "walk": 6.0}) == "walk"
    assert next_round({"lns": 5.0, "walk": 4.0}) == "lns"
    assert next_round({"lns": 0.0, "walk": 0.0}) == "lns"


def _rounds(seed: int) -> tuple[tuple[tuple[int, ...] | None, ...], list[dict[str, object]]]:
    # exact_max_pairs=0: the example is too big for exact CP-SAT, as set A is; without whole-model
    # CP-SAT the migration polish, which takes the place of the rounds, cannot run either.
    params = EngineParams(time_limit_s=1.0, exact_max_pairs=0, use_cpsat=False, seed=seed)
    assert params.deterministic
    out, events = solve_with_events(ROADEF, params)
    assert out.solution is not None and check(ROADEF, out.solution) == []
    names = [name for name, _ in events]
    assert names.index("reassign_done") < names.index("round_done")
    return out.solution.assignment, [fields for name, fields in events if name == "round_done"]


def test_rounds_after_the_first_walk_spend_the_rest_of_the_budget() -> None:
    """The first walk takes half of the deterministic budget; rounds of 15% take the rest, the
    last one what is left (20%), LNS measured first and a walk second."""
    _, rounds = _rounds(seed=0)
    kinds = [r["kind"] for r in rounds]
    assert kinds[:2] == ["lns", "walk"]
    assert set(kinds) <= {"lns", "walk"}
    budgets = [float(str(r["budget_s"])) for r in rounds]
    assert budgets == pytest.approx([0.15, 0.15, 0.2])
    values = [int(str(r["value"])) for r in rounds]
    assert values == sorted(values)  # the pool only takes better answers


def test_deterministic_rounds_repeat() -> None:
    assert _rounds(seed=3) == _rounds(seed=3)
