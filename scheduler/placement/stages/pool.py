"""The best checked answer so far (every stage's answer passes its gate) and the stage clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

from scheduler.placement.judges.evaluator import Evaluation, Evaluator
from scheduler.placement.judges.verify import check
from scheduler.placement.model.params import EngineParams, Progress
from scheduler.placement.model.problem import Problem, Solution

_MAX_NOTED_VIOLATIONS = 3


@dataclass
class Candidate:
    source: str
    solution: Solution
    evaluation: Evaluation


class Pool:
    """The best checked answer so far; every engine's answer passes through `offer`."""

    def __init__(self, p: Problem, params: EngineParams, emit: Progress) -> None:
        self.p = p
        self.params = params
        self.emit = emit
        self.evaluate = Evaluator(p, params.weights)
        self.best: Candidate | None = None
        self.notes: list[str] = []

    def offer(self, source: str, solution: Solution | None, *, quiet: bool = False) -> bool:
        """Keeps `solution` if the checker accepts it and it beats the best; True if kept.
        `quiet` candidates (trivial starts) are dropped without a note when rejected."""
        candidate = self.admit(source, solution, quiet=quiet)
        return candidate is not None and self.keep(candidate)

    def admit(
        self, source: str, solution: Solution | None, *, quiet: bool = False
    ) -> Candidate | None:
        """`solution` checked and evaluated, or None if the checker rejects it (with a note
        unless `quiet`)."""
        if solution is None:
            return None
        best = self.best
        if best is not None and solution == best.solution:
            # Already checked and evaluated (both depend on the solution alone): a stage that
            # improved nothing hands back the best as it was, 0.1 s of checking at city scale.
            return Candidate(source, solution, best.evaluation)
        violations = check(self.p, solution)
        if violations:
            if not quiet:
                self.notes.append(_rejection_note(source, violations))
                self.emit("checker_rejected", {"source": source, "violations": len(violations)})
            return None
        return Candidate(source, solution, self.evaluate(solution))

    def keep(self, candidate: Candidate) -> bool:
        """Makes an admitted candidate the best if it beats it; True if kept."""
        if self.best is None or candidate.evaluation.value > self.best.evaluation.value:
            self.best = candidate
            return True
        return False

    @property
    def value(self) -> int | None:
        return None if self.best is None else self.best.evaluation.value


class Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ms: dict[str, float] = {}

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - since) * 1000
        return now


def _rejection_note(source: str, violations: list[str]) -> str:
    shown = "; ".join(violations[:_MAX_NOTED_VIOLATIONS])
    more = len(violations) - _MAX_NOTED_VIOLATIONS
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{source} answer failed the checker and was discarded: {shown}{suffix}"
