"""The focused search after a good warm start: pieces of CP-SAT over what changed since the
warm start's cycle -- the nodes it leaves room on and the jobs it leaves out."""

from __future__ import annotations

import random
import time

from scheduler.placement.cpsat.lns import PAIR_S, STEP_S
from scheduler.placement.cpsat.pieces import unplaced_by_set
from scheduler.placement.cpsat.scope import Incumbent, Scope
from scheduler.placement.cpsat.solver import CpSatModel, SearchLimits
from scheduler.placement.index.facts import Facts
from scheduler.placement.model.params import WALL_PER_DET
from scheduler.placement.model.problem import Solution
from scheduler.placement.stages.state import RunState

# First focused piece: nodes, and unplaced jobs per node set; both adapt as LNS's do. (16, 32
# and 64 jobs did equally well on the synthetic M city after 1% churn.)
_FOCUS_NODES = 8
_FOCUS_UNPLACED = 32
_GROW, _SHRINK = 1.3, 0.7


class Focus(RunState):
    """The focused search."""

    def _focused(self) -> bool:
        """Whether a focused search runs: a good warm start, and a problem the search will
        cut into pieces anyway (a small one goes whole to exact CP-SAT, hinted)."""
        params = self.params
        if self.warm is None or not params.use_lns:
            return False
        return not self._whole_fits()

    def _focus(self) -> None:
        """LNS on what changed since the warm start's cycle, before LNS anywhere.

        After 1% churn most of the previous answer still holds; what is open is the room the
        finished jobs left and the jobs that are new or still wait. Each piece decides a
        window of the nodes the warm start leaves room on (most room first, cluster by
        cluster, so a gang's replicas can meet in one window), the unplaced jobs that may use
        them (most work first) and the jobs on them that may move; everything else stays at
        the incumbent. It may take the whole search budget and ends sooner after a pass over
        those nodes that improved nothing (LNS anywhere gets the rest), or at the gap target.
        Measured on the synthetic M city after 1% churn, 5 s, wall-clock mode, from the LP
        rounding's 99.89% of the bound: these pieces reached 99.904% (6-10 improvements in 16
        pieces); LNS anywhere, in the cold solve of the same problem, 99.892-99.896%; these
        pieces capped at 60% of the budget, 99.894-99.896%.

        A piece is accepted on its own objective: better than at its hint, where the model's
        value is exact, and never above the evaluator's elsewhere (8 accepted pieces there:
        the evaluator's gain equalled the model's 7 times and exceeded it by 1 once). The
        pool's checker and evaluator judge the result once, at the end or when the gains reach
        the target, since they cost 0.3 s per call at M, more than a piece; should the checker
        reject it, the focused gains are lost, never the pool's answer."""
        assert self.warm is not None and self.pool.best is not None
        params, facts = self.params, self.facts
        t = time.perf_counter()
        ranked = changed_nodes(facts, self.warm)
        if not ranked:
            return
        rng = random.Random(params.seed)
        det = params.deterministic
        budget = self._search_budget()
        stop_at = self._stop_at()
        lens = _Lens(facts, self.work)
        start = self.pool.best
        inc = Incumbent(facts, start.solution)
        lens.reset(inc)
        gain = 0  # the accepted pieces' gains in model terms (exact differences)
        nodes_per, unplaced_per = _FOCUS_NODES, _FOCUS_UNPLACED
        pos = quiet = pieces = improvements = 0
        spent = 0.0
        while quiet < len(ranked):
            if self.should_stop is not None and self.should_stop():
                break  # the run's loop reports the stop after this stage
            if det:
                if self.clock.elapsed_s() >= params.wall_budget_s:
                    self.pool.notes.append(
                        "deterministic focused search stopped at its wall-clock cap; "
                        "the answer may not repeat"
                    )
                    break
                step_s = min(params.lns_step_s, budget - spent)
            else:
                step_s = min(params.lns_step_s, budget - (time.perf_counter() - t))
            if step_s <= 0.01:
                break
            window = ranked[pos : pos + nodes_per]
            pos = pos + nodes_per if pos + nodes_per < len(ranked) else 0
            quiet += len(window)
            scope = lens.scope(window, unplaced_per)
            if not scope.jobs:
                spent += STEP_S if det else 0.0
                continue
            built = time.perf_counter()
            model = CpSatModel(facts, self.terms, self.work, scope, inc)
            model.hint(inc.solution)
            result = model.solve(
                SearchLimits(
                    time_limit_s=step_s / WALL_PER_DET if det else step_s,
                    deterministic=det,
                    seed=rng.randrange(1 << 31),
                    workers=params.workers,
                    wall_cap_s=10 * step_s,
                ),
                should_stop=self.should_stop,
            )
            solved_at = time.perf_counter()
            pieces += 1
            if det:
                # LNS's estimate of a step's wall time, from deterministic quantities only.
                spent += WALL_PER_DET * result.deterministic_time + STEP_S + PAIR_S * model.pairs
            solved = result.status == "OPTIMAL"
            if solved and model.pairs < params.lns_pairs:
                nodes_per = min(len(ranked), int(nodes_per * _GROW) + 1)
                unplaced_per = min(4096, int(unplaced_per * _GROW) + 1)
            elif not solved or model.pairs > 2 * params.lns_pairs:
                nodes_per = max(2, int(nodes_per * _SHRINK))
                unplaced_per = max(8, int(unplaced_per * _SHRINK))
            found, hinted = result.objective, model.hint_value
            improved = (
                result.solution is not None
                and found is not None
                and hinted is not None
                and found > hinted
            )
            self.emit(
                "focus_step",
                {
                    "nodes": len(window),
                    "jobs": len(scope.jobs),
                    "pairs": model.pairs,
                    "status": result.status,
                    "build_ms": round((solved_at - built) * 1000 - result.wall_ms, 1),
                    "solve_ms": round(result.wall_ms, 1),
                    "improved": improved,
                },
            )
            if not improved:
                continue
            assert result.solution is not None and found is not None and hinted is not None
            gain += found - hinted
            improvements += 1
            quiet = 0
            inc = Incumbent(facts, result.solution)
            lens.reset(inc)
            if stop_at is not None and start.evaluation.value + gain >= stop_at:
                break
        if improvements:
            self.pool.offer("lns", inc.solution)
        self.charged_s += spent
        self.clock.add("lns", t)
        self.emit(
            "focus_done",
            {
                "nodes": len(ranked),
                "pieces": pieces,
                "improvements": improvements,
                "value": self.pool.value,
            },
        )


# -- warm start: what changed ----------------------------------------------------------------------


def _movable(facts: Facts, j: int) -> bool:
    """Whether a decision can change job j at all (a running job that may neither move nor be
    preempted stays; leaving it out of a piece keeps the piece small)."""
    return not facts.running(j) or facts.migratable(j) or facts.preemptible(j)


def changed_nodes(facts: Facts, warm: Solution) -> list[int]:
    """Nodes on which `warm` leaves room for a job it does not place: the clusters with the
    most room first, within one the node with the most room (free share of its scarcest
    resource) first.

    "Room for a job" is tested with a few small unplaced jobs of each node set -- the smallest
    in each resource and the smallest overall: a node none of them fits takes hardly any job
    of the set, and testing every job would cost jobs x nodes at city scale."""
    p = facts.p
    nr = p.num_resources
    top = [max((c[r] for c in p.node_capacity), default=0) or 1 for r in range(nr)]
    smallest: dict[tuple[int, int], tuple[float, int]] = {}  # (set, resource | -1) -> (size, j)
    for j, nodes in enumerate(warm.assignment):
        if nodes is not None or not facts.eligible[j]:
            continue
        s, demand = p.job_nodes[j], p.job_demand[j]
        sizes = [d / t for d, t in zip(demand, top, strict=True)]
        for r, size in [(-1, sum(sizes)), *enumerate(sizes)]:
            key = (s, r)
            if key not in smallest or (size, j) < smallest[key]:
                smallest[key] = (size, j)
    probes: dict[int, set[int]] = {}
    for (s, _), (_, j) in smallest.items():
        probes.setdefault(s, set()).add(j)
    if not probes:
        return []
    inc = Incumbent(facts, warm)
    zero = [0] * nr
    room: dict[int, float] = {}
    for s in sorted(probes):
        for n in p.node_sets[s]:
            if n in room:
                continue
            used, held = inc.usage.get(n, zero), inc.transient.get(n, zero)
            free = [
                c - r - u - h
                for c, r, u, h in zip(
                    p.node_capacity[n], facts.reserved[n], used, held, strict=True
                )
            ]
            if any(
                all(d <= f for d, f in zip(facts.demand(j, n), free, strict=True))
                for j in probes[s]
            ):
                capacity = p.node_capacity[n]
                room[n] = min((f / c for f, c in zip(free, capacity, strict=True) if c), default=0)
    by_group: dict[int, float] = {}
    for n, share in room.items():
        by_group[p.node_group[n]] = by_group.get(p.node_group[n], 0.0) + share
    return sorted(room, key=lambda n: (-by_group[p.node_group[n]], p.node_group[n], -room[n], n))


class _Lens:
    """The scopes of the focused search, read from the current incumbent."""

    def __init__(self, facts: Facts, work: tuple[int, ...]) -> None:
        self.facts = facts
        self.work = work
        self.sets_of_node = facts.sets_of_node
        # Running jobs that may change, by former node: free only if those nodes are.
        self.former_on: dict[int, list[int]] = {}
        for j, counts in enumerate(facts.current_count):
            if counts and _movable(facts, j):
                for n in counts:
                    self.former_on.setdefault(n, []).append(j)
        self.inc: Incumbent | None = None
        self.unplaced_by_set: dict[int, list[int]] = {}

    def reset(self, inc: Incumbent) -> None:
        """Re-reads the unplaced jobs, most work first (after an improvement)."""
        self.inc = inc
        self.unplaced_by_set = unplaced_by_set(self.facts, inc, self.work)

    def scope(self, window: list[int], unplaced_per_set: int) -> Scope:
        """`window`'s nodes, the movable jobs wholly on them (incumbent and former nodes) and
        the most valuable unplaced jobs that may use them."""
        inc, facts = self.inc, self.facts
        assert inc is not None
        nodes = frozenset(window)
        candidates: set[int] = set()
        for n in window:
            candidates.update(inc.on_node.get(n, ()))
            candidates.update(self.former_on.get(n, ()))
        for s in sorted({s for n in window for s in self.sets_of_node[n]}):
            candidates.update(self.unplaced_by_set.get(s, ())[:unplaced_per_set])
        assignment = inc.solution.assignment
        jobs = frozenset(
            j
            for j in candidates
            if _movable(facts, j)
            and all(n in nodes for n in assignment[j] or ())
            and all(n in nodes for n in facts.current_count[j] or {})
        )
        return Scope(jobs, nodes, inc.solution)
