"""Published benchmark tracks: loaders, mappings into the engine's `Problem`, and independent
evaluators of each track's own published objective.

Every track module (`gap`, `vbp`, `roadef`, `openb`) offers the same functions:

    instances(root) -> list[(name, path)]        the track's files under the benchdata root
    references(root) -> dict[name, Reference]    published reference values (references.py)
    load(path) -> Instance                       frozen raw data, validated; errors name file and
                                                 position (FormatError)
    to_problem(inst) -> Problem                  through scheduler.placement.model only
    from_solution(inst, problem, solution) -> TrackSolution
    evaluate(inst, track_solution) -> Evaluation (feasible, objective, violations), computed from
                                                 the track's definition, sharing no code with the
                                                 engine's checker or evaluator
    write_solution(path, inst, track_solution) / read_solution(path, inst)
                                                 the track's plainest solution format

Nothing here copies data into the repository: every loader takes a path.
"""

from __future__ import annotations

from typing import NamedTuple

TRACKS = ("gap", "vbp", "roadef", "openb")


class FormatError(ValueError):
    """A benchmark file does not follow its published format; the message names file and place."""


class Evaluation(NamedTuple):
    """A track evaluator's verdict: a 3-tuple, so `feasible, objective, violations = ...` works."""

    feasible: bool
    objective: int | float
    violations: list[str]
