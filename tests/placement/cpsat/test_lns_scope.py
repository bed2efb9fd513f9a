"""LNS pieces on moved work: a job that left its former node is free in a piece that does not
include that node, and the piece's model is exact there (ROADEF-shaped generated instance)."""

from __future__ import annotations

import random
import time

import pytest

from benchmarks.tracks import roadef
from benchmarks.tracks.roadef_generate import Shape, generate, write
from scheduler.placement.cpsat import escape as escape_module
from scheduler.placement.cpsat.escape import SHARE, Escapes
from scheduler.placement.cpsat.homes import Homes
from scheduler.placement.cpsat.objective import TermWeights
from scheduler.placement.cpsat.pieces import _SHAPES, Neighbourhoods
from scheduler.placement.cpsat.scope import Incumbent
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.judges.evaluator import evaluate
from scheduler.placement.judges.scale import job_work
from scheduler.placement.judges.verify import check
from scheduler.placement.model import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.reassign import reassign

WEIGHTS = ObjectiveWeights()
SHAPE = Shape(processes=120, machines=12, resources=4, services=30, seed=5)


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Problem, Solution]:
    """A generated ROADEF instance (transient resources, balance, move costs) and an answer in
    which many processes left their initial machine (a fixed number of search steps)."""
    model, _ = write(generate(SHAPE), tmp_path_factory.mktemp("roadef_scope"), "scope")
    p = roadef.to_problem(roadef.load(model))
    start = Solution(tuple(p.job_current))
    result = reassign(p, start, WEIGHTS, deadline=time.monotonic() + 60, seed=1, steps=400)
    sol = result.solution
    assert check(p, sol) == []
    away = sum(1 for j, nodes in enumerate(sol.assignment) if nodes != p.job_current[j])
    assert away >= 10, away
    return p, sol


def test_pieces_free_moved_jobs_whose_former_node_is_outside(
    moved: tuple[Problem, Solution],
) -> None:
    """Pieces free moved processes whose initial machine is not in the piece; each
    piece's optimum passes the checker, and its objective's gain over the hint is the
    evaluator's (some pieces gain, so the equality is not only 0 = 0)."""
    p, sol = moved
    facts = Facts(p)
    inc = Incumbent(facts, sol)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(3))
    hoods.reset(inc)
    hoods.homes.moved = []  # no "homes" pieces: the test below has them
    hoods.escape_from = []  # nor "escape" pieces (test_an_escape_piece_...)
    hoods.nodes_per_step = 3
    base = evaluate(p, sol, WEIGHTS).value
    outside = gained = 0
    kinds = set()
    for _ in range(12):
        scope = hoods.pick()
        kinds.add(_SHAPES[hoods.last])
        for j in scope.jobs:
            assert all(n in scope.nodes for n in sol.assignment[j] or ())
            former = p.job_current[j] or ()
            outside += any(n not in scope.nodes for n in former)
        model = CpSatModel(facts, TermWeights.of(p, WEIGHTS), job_work(p), scope, inc)
        model.hint(sol)
        assert model.hint_value is not None
        result = model.solve(SearchLimits(time_limit_s=20.0, deterministic=True, seed=0))
        assert result.status == "OPTIMAL", result.status
        assert result.solution is not None
        assert check(p, result.solution) == []
        # The piece's objective leaves out constants: its change is the evaluator's.
        gain = evaluate(p, result.solution, WEIGHTS).value - base
        assert result.objective - model.hint_value == gain >= 0
        gained += gain > 0
    assert outside > 0 and gained > 0
    # Pieces of a sample of jobs over every node, and pieces of every job on a few nodes.
    assert "jobs" in kinds and len(kinds) > 1


def test_a_homes_piece_undoes_a_needless_swap(moved: tuple[Problem, Solution]) -> None:
    """Two processes swapped between their machines for nothing (the initial answer with one
    2-cycle of moves): the only moved jobs are those two, so a "homes" piece holds both
    machines and frees every job on them, and its optimum is at least as good as the initial
    answer there: it undoes the swap's move costs."""
    p, _ = moved
    initial = Solution(tuple(p.job_current))
    facts = Facts(p)
    first = evaluate(p, initial, WEIGHTS).value
    swapped = None
    for a in range(p.num_jobs):
        for b in range(a + 1, p.num_jobs):
            na, nb = p.job_current[a], p.job_current[b]
            if na == nb:
                continue
            rows = list(initial.assignment)
            rows[a], rows[b] = nb, na
            candidate = Solution(tuple(rows))
            if not check(p, candidate) and evaluate(p, candidate, WEIGHTS).value < first:
                swapped = candidate, {*(na or ()), *(nb or ())}
                break
        if swapped:
            break
    assert swapped is not None
    sol, machines = swapped
    inc = Incumbent(facts, sol)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(5))
    hoods.reset(inc)
    assert len(hoods.homes.moved) == 2
    scope = None
    for _ in range(100):
        scope = hoods.pick()
        if _SHAPES[hoods.last] == "homes":
            break
    assert scope is not None and _SHAPES[hoods.last] == "homes"
    assert machines <= scope.nodes and set(hoods.homes.moved) <= scope.jobs
    model = CpSatModel(facts, TermWeights.of(p, WEIGHTS), job_work(p), scope, inc)
    model.hint(sol)
    result = model.solve(SearchLimits(time_limit_s=20.0, deterministic=True, seed=0))
    assert result.status == "OPTIMAL" and result.solution is not None
    assert check(p, result.solution) == []
    assert evaluate(p, result.solution, WEIGHTS).value >= first


def test_returners_are_moved_jobs_that_left_room_below_safety(
    moved: tuple[Problem, Solution],
) -> None:
    """The jobs "homes" pieces start from half of the time: moved jobs whose former node is
    below its safety level in a weighted resource some node is loaded above (room the pool
    pays load cost for). Here the initial answer (two machines above safety, the rest below)
    with one process moved: it is a returner, computed from the answer's usage
    independently; in the search's answer, where no machine is above safety, none is."""
    p, searched = moved
    facts = Facts(p)
    initial = Solution(tuple(p.job_current))
    safety = p.node_safety or p.node_capacity
    weights = p.load_weight or (0,) * p.num_resources

    def returners(sol: Solution) -> tuple[list[int], list[int]]:
        hoods = Neighbourhoods(facts, job_work(p), random.Random(5))
        hoods.reset(Incumbent(facts, sol))
        used = [[0] * p.num_resources for _ in range(p.num_nodes)]
        for j, nodes in enumerate(sol.assignment):
            for n in nodes or ():
                for r, d in enumerate(p.job_demand[j]):
                    used[n][r] += d
        over = [
            w > 0 and any(used[n][r] > safety[n][r] for n in range(p.num_nodes))
            for r, w in enumerate(weights)
        ]
        slack = {
            n
            for n in range(p.num_nodes)
            for r in range(p.num_resources)
            if over[r] and used[n][r] < safety[n][r]
        }
        expected = [j for j in hoods.homes.moved if set(p.job_current[j] or ()) & slack]
        return hoods.homes.returners, expected

    one = None
    for j in range(p.num_jobs):
        for n in range(p.num_nodes):
            rows = list(initial.assignment)
            rows[j] = (n,)
            candidate = Solution(tuple(rows))
            if rows[j] != p.job_current[j] and not check(p, candidate):
                got, expected = returners(candidate)
                if expected:
                    one = got, expected
                    break
        if one:
            break
    assert one is not None
    got, expected = one
    assert got == expected and len(expected) == 1
    got, expected = returners(searched)
    assert got == expected == [] and hoods_moved(facts, searched)


def hoods_moved(facts: Facts, sol: Solution) -> list[int]:
    hoods = Neighbourhoods(facts, job_work(facts.p), random.Random(0))
    hoods.reset(Incumbent(facts, sol))
    return hoods.homes.moved


def test_reach_is_where_a_job_fits_beside_what_stays_for_good(
    moved: tuple[Problem, Solution],
) -> None:
    """A running job's reach ("escape" pieces): the other eligible nodes where its demand fits
    within capacity less what the node's own running jobs hold there for good in transient
    resources. Computed here from the problem's rows; and every node outside it is over
    capacity in the initial answer with only that job moved there (the checker says so)."""
    p, _ = moved
    assert any(p.transient or ())
    facts = Facts(p)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(0))
    initial = Solution(tuple(p.job_current))
    floor = [[0] * p.num_resources for _ in range(p.num_nodes)]
    for j, cur in enumerate(p.job_current):
        for n in cur or ():
            for r, t in enumerate(p.transient or ()):
                floor[n][r] += p.job_demand[j][r] if t else 0
    sizes = []
    for j in range(p.num_jobs):
        (home,) = p.job_current[j] or ()
        expected = tuple(
            n
            for n in range(p.num_nodes)
            if n != home
            and all(
                d <= c - f
                for d, c, f in zip(p.job_demand[j], p.node_capacity[n], floor[n], strict=True)
            )
        )
        assert hoods.escape.reach(j) == expected
        sizes.append(len(expected))
        for n in range(p.num_nodes):
            if n != home and n not in expected:
                rows = list(initial.assignment)
                rows[j] = (n,)
                assert any("capacity" in e for e in check(p, Solution(tuple(rows))))
    # Some jobs reach few nodes and some many: the test is not all-or-nothing.
    assert min(sizes) < p.num_nodes - 1 and max(sizes) > 0
    # A job that reaches more than NARROW nodes is left to other pieces (reaches none).
    cap = sorted(sizes)[len(sizes) // 2]
    few = Escapes(facts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(escape_module, "NARROW", cap)
        got = [few.reach(j) for j in range(p.num_jobs)]
    assert all(len(g) == (0 if n > cap else n) for g, n in zip(got, sizes, strict=True))
    assert any(n > cap for n in sizes) and any(got)


def test_an_escape_piece_holds_a_loaded_node_and_where_its_jobs_could_go(
    moved: tuple[Problem, Solution],
) -> None:
    """On migratable work with load costs, half of the draws are "escape" pieces before any
    piece gained: a node above safety, nodes its jobs reach, random nodes up to the piece's
    own size. Each
    piece's optimum passes the checker and gains what the evaluator says; from the initial
    answer (machines above safety) some gain."""
    p, _ = moved
    facts = Facts(p)
    initial = Solution(tuple(p.job_current))
    inc = Incumbent(facts, initial)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(7))
    hoods.reset(inc)
    over = set(hoods.escape_from)
    # Where pieces start: nodes above safety in a resource some node has room in.
    safety = p.node_safety or p.node_capacity
    room = [
        r for r in range(p.num_resources) if any(inc.usage[n][r] < safety[n][r] for n in inc.usage)
    ]
    assert over and over == {
        n for n in inc.usage if any(inc.usage[n][r] > safety[n][r] for r in room)
    }
    base = evaluate(p, initial, WEIGHTS).value
    draws = gained = 0
    for _ in range(40):
        scope = hoods.pick()
        if _SHAPES[hoods.last] != "escape":
            continue
        draws += 1
        loaded = scope.nodes & over
        assert loaded
        assert len(scope.nodes) == min(p.num_nodes, hoods.escape_nodes)
        assert any(
            set(hoods.escape.reach(j)) & (scope.nodes - {m}) for m in loaded for j in inc.on_node[m]
        )
        if draws > 6:
            continue
        model = CpSatModel(facts, TermWeights.of(p, WEIGHTS), job_work(p), scope, inc)
        model.hint(initial)
        assert model.hint_value is not None
        result = model.solve(SearchLimits(time_limit_s=20.0, deterministic=True, seed=0))
        assert result.status == "OPTIMAL" and result.solution is not None
        assert check(p, result.solution) == []
        gain = evaluate(p, result.solution, WEIGHTS).value - base
        assert result.objective - model.hint_value == gain >= 0
        gained += gain > 0
    assert 10 <= draws <= 30 and gained > 0


def test_escape_pieces_are_drawn_by_their_recent_gain_per_draw(
    moved: tuple[Problem, Solution],
) -> None:
    """Their share follows their recent gain per draw against the other shapes' together,
    kept between a tenth and three quarters: after one big chain it is at the top, and it
    falls back to the floor once they stop gaining while the others still gain. Where escape
    pieces cannot apply they are never drawn."""
    p, _ = moved
    facts = Facts(p)
    hoods = Neighbourhoods(facts, job_work(p), random.Random(1))
    hoods.reset(Incumbent(facts, Solution(tuple(p.job_current))))  # machines above safety
    assert hoods.escape_from
    escape = _SHAPES.index("escape")

    def draw(n: int, escape_gain: int, other_gain: int) -> float:
        hits = 0
        for _ in range(n):
            hoods.pick()
            hits += hoods.last == escape
            hoods.reward(escape_gain if hoods.last == escape else other_gain)
        return hits / n

    assert hoods.escape_share.share() == 0.5
    assert draw(200, 10**9, 10**3) > 0.6  # one side's chains dwarf the others' gains
    assert hoods.escape_share.share() == SHARE[1]
    draw(100, 0, 10**3)  # no chain left
    assert hoods.escape_share.share() == SHARE[0]
    assert draw(300, 0, 10**3) < 0.2
    hoods.escape_from = []  # no excess with anywhere to go
    assert draw(50, 0, 0) == 0


def test_homes_chain_pieces_follow_the_move_graph(moved: tuple[Problem, Solution]) -> None:
    """Three processes rotated among their three machines (a 3-cycle: none can go home alone)
    and one more moved between two other machines: a chain piece from any of the three holds
    exactly the cycle's machines when it may hold three or more, the other job's two machines
    from it; pieces of two hold two machines of the cycle."""
    p, _ = moved
    facts = Facts(p)
    home = [p.job_current[j] for j in range(p.num_jobs)]
    by_node: dict[tuple[int, ...], int] = {}
    for j, nodes in enumerate(home):
        if nodes is not None:
            by_node.setdefault(nodes, j)
    firsts = list(by_node.items())
    assert len(firsts) >= 5
    (a, ja), (b, jb), (c, jc), (d, jd), (e, _) = firsts[:5]
    rows = list(home)
    rows[ja], rows[jb], rows[jc], rows[jd] = b, c, a, e
    inc = Incumbent(facts, Solution(tuple(rows)))
    homes = Homes(facts)
    homes.reset(inc)
    assert sorted(homes.moved) == sorted([ja, jb, jc, jd])
    cycle, pair = {*a, *b, *c}, {*d, *e}
    sol = inc.solution.assignment
    homes.returners = []
    for seed in range(20):
        rng = random.Random(seed)
        for j in (ja, jb, jc):
            homes.moved = [j]  # the chain starts from j
            assert homes._chain(8, sol, rng) == cycle
            got = homes._chain(2, sol, rng)
            assert len(got) == 2 and got <= cycle
        homes.moved = [jd]
        assert homes._chain(8, sol, rng) == pair
