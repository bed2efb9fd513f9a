"""The published tracks (GAP, VBP, ROADEF 2012, OpenB) as runner `Track`s.

Each adapter turns a `benchmarks.tracks.<name>` module into `Instance`s: `build` loads the files
and maps them into the engine's `Problem` (the track's own `to_problem`), `judge` maps the
engine's answer back (`from_solution`), writes it as a solution file in the track's format
(`write_solution`, under `<solutions>/<track>/<instance>.txt`) and scores it with the track's
independent evaluator (`evaluate`). Both run inside the instance's isolated process; the raw
instance is loaded once per process (`_raw` caches the last one).

References (all three published tables minimise; OpenB has none, its objective -- the share
of GPU capacity allocated -- is maximised):
- gap: `min_optimum` (proven optimum); also the best bound and best known.
- vbp: `best_overall` (the paper's best heuristic), also `LB` and `OPT` where proven.
- roadef: `reference_best` (best known), also the lower bound and the winner's 300-s result
  (`s41_challenge_300s`).
- openb: no published value; the judge replays the same pods online with best-fit, worst-fit
  and FGD (benchmarks.tracks.openb_replay) and the engine's share is compared with FGD's.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.runner import Instance, Verdict
from benchmarks.tracks import gap, openb, openb_replay, roadef, vbp
from benchmarks.tracks.references import Reference
from scheduler.placement.model import Problem, Solution

PUBLISHED = ("gap", "vbp", "roadef", "openb")
MODULES: dict[str, Any] = {"gap": gap, "vbp": vbp, "roadef": roadef, "openb": openb}

# Default engine budget per instance (the targets), by track.
DEFAULT_TIME_LIMITS = {"gap": 10.0, "vbp": 10.0, "roadef": 300.0, "openb": 60.0}
GAP_ORLIB_TIME_LIMIT_S = 1.0  # gap1-12 (cattrysse1994): <= 1 s each

# --quick: a fixed subset of every track, with its budget per instance.
QUICK: dict[str, tuple[tuple[str, ...], float]] = {
    "gap": (
        (
            "cattrysse1994/gap1-0",
            "cattrysse1994/gap6-2",
            "cattrysse1994/gap12-4",
            "chu1997/a05100",
            "chu1997/c05100",
        ),
        1.0,
    ),
    "vbp": (
        ("class1_20_3_0", "class4_40_5_1", "class6_20_10_2", "class7_40_3_3", "class9_20_5_4"),
        2.0,
    ),
    "roadef": (("a1_1",), 5.0),
    "openb": (("default",), 5.0),
}
# The quick OpenB slice: every NODE_STRIDE-th node and the first POD_COUNT pods by arrival.
QUICK_OPENB_NODE_STRIDE = 10
QUICK_OPENB_PODS = 800


# -- in the isolated process -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where one instance's files are and how to cut it (OpenB slices)."""

    track: str
    name: str
    path: Path
    node_stride: int = 1  # openb: keep every k-th node
    pod_limit: int | None = None  # openb: first pods in arrival order


@functools.lru_cache(maxsize=1)
def _raw(source: Source) -> Any:
    module = MODULES[source.track]
    inst = module.load(source.path, name=source.name)
    if source.track == "openb" and (source.node_stride > 1 or source.pod_limit is not None):
        inst = slice_openb(inst, source.node_stride, source.pod_limit)
    return inst


def slice_openb(inst: openb.Instance, node_stride: int, pod_limit: int | None) -> openb.Instance:
    """Every node_stride-th node and the first pod_limit pods in arrival order (kept in
    arrival order, renumbered)."""
    arrival = inst.arrival[:pod_limit] if pod_limit is not None else inst.arrival
    pods = tuple(inst.pods[i] for i in sorted(arrival))
    index = {old: new for new, old in enumerate(sorted(arrival))}
    return dataclasses.replace(
        inst,
        name=f"{inst.name}[nodes::{node_stride},pods:{len(pods)}]",
        nodes=inst.nodes[::node_stride],
        pods=pods,
        arrival=tuple(index[i] for i in arrival),
    )


def build(source: Source) -> Problem:
    problem: Problem = MODULES[source.track].to_problem(_raw(source))
    return problem


def solution_path(solutions: Path, track: str, name: str) -> Path:
    """`<solutions>/<track>/<instance>.txt` (a GAP name's dataset folder becomes a folder)."""
    return solutions / track / f"{name}.txt"


def judge(source: Source, solutions: Path | None, problem: Problem, solution: Solution) -> Verdict:
    """Maps the answer back, writes its solution file, scores it with the track's evaluator."""
    module = MODULES[source.track]
    inst = _raw(source)
    answer = module.from_solution(inst, problem, solution)
    written = ""
    if solutions is not None:
        path = solution_path(solutions, source.track, source.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        module.write_solution(path, inst, answer)
        written = str(path)
    feasible, objective, violations = module.evaluate(inst, answer)
    measures: list[tuple[str, float]] = []
    references: list[tuple[str, float]] = []
    if source.track == "openb":
        frag = openb.fragmentation(inst, answer)
        measures = [
            ("gpu_allocated_share", float(objective)),
            ("fragmented_gpus", frag.gpus),
            ("fragmentation_rate", frag.rate),
            ("fragmented_share_of_capacity", frag.share_of_capacity),
        ]
        online_measures, references, online_violations = _online(inst)
        measures += online_measures
        violations = [*violations, *online_violations]
        feasible = feasible and not online_violations
    return Verdict(
        feasible=feasible,
        objective=float(objective),
        violations=tuple(violations),
        measures=tuple(measures),
        solution_file=written,
        references=tuple(references),
        reference_kind=OPENB_REFERENCE if references else "",
    )


OPENB_REFERENCE = "fgd"  # the engine's GPU share is compared with FGD's, in the same run


def _online(
    inst: openb.Instance,
) -> tuple[list[tuple[str, float]], list[tuple[str, float]], list[str]]:
    """The online replays (best-fit, worst-fit, FGD; benchmarks.tracks.openb_replay) on the
    same pods and nodes: (measures, references = each policy's final GPU share, violations of
    their answers under the track's evaluator)."""
    measures: list[tuple[str, float]] = []
    references: list[tuple[str, float]] = []
    violations: list[str] = []
    problem = openb.to_problem(inst)
    for policy in openb_replay.policies(inst):
        run = openb_replay.replay(inst, policy)
        answer = openb.from_solution(inst, problem, run.solution)
        _, share, broken = openb.evaluate(inst, answer)
        violations += [f"{policy.name}: {v}" for v in broken]
        frag = openb.fragmentation(inst, answer)
        name = policy.name.replace("-", "_")
        references.append((name, float(share)))
        measures += [
            (f"{name}_share", float(share)),
            (f"{name}_share_at_first_failure", run.share_at_first_failure),
            (f"{name}_fragmentation_rate", frag.rate),
            (f"{name}_s", run.seconds),
        ]
    return measures, references, violations


# -- the tracks --------------------------------------------------------------------------------


def _primary(track: str, ref: Reference | None) -> tuple[str, float | None, tuple[Any, ...]]:
    """(kind, value, all reference values) of a published reference."""
    if ref is None:
        return "", None, ()
    named: dict[str, int | None] = {}
    if track == "gap":
        kind, value = "optimum", ref.optimum
        named = {"optimum": ref.optimum, "lower_bound": ref.lower_bound}
    elif track == "vbp":
        kind, value = "best_overall", ref.value("best_overall")
        named = {"best_overall": value, "optimum": ref.optimum, "lower_bound": ref.lower_bound}
    else:
        kind, value = "best_known", ref.best_known
        named = {
            "best_known": ref.best_known,
            "s41_300s": ref.value("s41_challenge_300s"),
            "lower_bound": ref.lower_bound,
            "initial": ref.value("initial_cost"),
        }
    values = tuple((k, float(v)) for k, v in named.items() if v is not None)
    return kind, None if value is None else float(value), values


@dataclass(frozen=True)
class PublishedTrack:
    """One published track over the files under `root`."""

    track: str
    root: Path
    time_limit_s: float | None = None  # None: the track's default (DEFAULT_TIME_LIMITS)
    names: tuple[str, ...] | None = None  # a fixed subset (--quick), in this order
    name_filter: str = ""
    solutions: Path | None = None  # where solution files go; None: not written
    compare: bool = False  # also the LP bound and the greedy baselines in the engine's terms
    openb_node_stride: int = 1
    openb_pod_limit: int | None = None

    @property
    def name(self) -> str:
        return self.track

    def _limit(self, name: str) -> float:
        if self.time_limit_s is not None:
            return self.time_limit_s
        if self.track == "gap" and name.startswith("cattrysse1994/"):
            return GAP_ORLIB_TIME_LIMIT_S
        return DEFAULT_TIME_LIMITS[self.track]

    def instances(self) -> Sequence[Instance]:
        module = MODULES[self.track]
        found = dict(module.instances(self.root))
        if self.names is not None:
            missing = [n for n in self.names if n not in found]
            if missing:
                raise FileNotFoundError(f"{self.track}: instances not found: {', '.join(missing)}")
            chosen = [(n, found[n]) for n in self.names]
        else:
            chosen = list(found.items())
        chosen = [(n, p) for n, p in chosen if self.name_filter in n]
        refs: dict[str, Reference] = {} if self.track == "openb" else module.references(self.root)
        out = []
        for name, path in chosen:
            source = Source(self.track, name, path)
            if self.track == "openb":
                source = dataclasses.replace(
                    source, node_stride=self.openb_node_stride, pod_limit=self.openb_pod_limit
                )
            kind, value, values = _primary(self.track, refs.get(name))
            out.append(
                Instance(
                    track=self.track,
                    name=name,
                    build=functools.partial(build, source),
                    time_limit_s=self._limit(name),
                    reference=value,
                    judge=functools.partial(judge, source, self.solutions),
                    sense="max" if self.track == "openb" else "min",
                    reference_kind=kind,
                    references=values,
                    compare=self.compare,
                )
            )
        return out


def quick_track(track: str, root: Path, solutions: Path | None) -> PublishedTrack:
    names, limit = QUICK[track]
    openb_cut = track == "openb"
    return PublishedTrack(
        track=track,
        root=root,
        time_limit_s=limit,
        names=names,
        solutions=solutions,
        openb_node_stride=QUICK_OPENB_NODE_STRIDE if openb_cut else 1,
        openb_pod_limit=QUICK_OPENB_PODS if openb_cut else None,
    )
