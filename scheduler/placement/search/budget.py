"""What the packing moves share: when the search stops (`Budget`), which demands are not worth
retrying (`Misses`), and which jobs a move may touch."""

from __future__ import annotations

import time

from scheduler.placement.index.aggregate import (
    View,
)
from scheduler.placement.model.params import ShouldStop
from scheduler.placement.model.problem import Problem
from scheduler.placement.search.packing import Packing


class Budget:
    """When the search stops: at a wall-clock deadline (time.monotonic()), and/or after a
    number of steps (job moves tried), which makes the stopping point, and so the answer,
    independent of the machine's speed and load; and whenever the caller's `should_stop`
    says so. None of them: when no move helps any more."""

    def __init__(
        self,
        deadline: float | None = None,
        steps: int | None = None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.deadline = deadline
        self.steps = steps
        self.should_stop = should_stop
        self.used = 0

    def exhausted(self) -> bool:
        if self.steps is not None and self.used >= self.steps:
            return True
        if self.should_stop is not None and self.should_stop():
            return True
        return self.deadline is not None and time.monotonic() > self.deadline

    def spent(self) -> bool:
        """Counts one step; True if the budget is gone (the step should not be taken)."""
        self.used += 1
        return self.exhausted()


class Misses:
    """Demands that found no place, per (node set, replicas, quota department). While free
    capacity only shrinks, a job of the same kind needing at least as much of every resource
    finds no place either, so it is not even tried."""

    def __init__(self, state: Packing) -> None:
        self.state = state
        self.failed: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

    def _key(self, j: int) -> tuple[int, ...]:
        view, p = self.state.view, self.state.p
        dept = view.department[j]
        return (
            p.job_nodes[j],
            p.job_replicas[j],
            dept if dept in view.quota_departments else -1,
            j if j in view.overrides else -1,
        )

    def hopeless(self, j: int) -> bool:
        demand = self.state.p.job_demand[j]
        for low in self.failed.get(self._key(j), ()):
            if all(a <= b for a, b in zip(low, demand, strict=True)):
                return True
        return False

    def record(self, j: int) -> None:
        self.failed.setdefault(self._key(j), []).append(self.state.p.job_demand[j])


def shape_key(p: Problem, view: View, j: int) -> object:
    """Jobs with equal keys fit exactly the same places (so one failure rules out all)."""
    dept = view.department[j]
    return (
        p.job_demand[j],
        p.job_replicas[j],
        p.job_nodes[j],
        dept if dept in view.quota_departments else -1,
        j if j in view.overrides else -1,
    )


def movable(state: Packing, j: int) -> bool:
    """Single-replica queued jobs outside services and not required: the ones node moves may
    take off a node (and perhaps leave unplaced)."""
    view = state.view
    return (
        not state.frozen[j]
        and state.p.job_replicas[j] == 1
        and j not in view.in_service
        and not view.required[j]
    )


def evictable(state: Packing, j: int) -> bool:
    """Jobs a move may take off their nodes (and perhaps leave unplaced): queued, outside
    services, not required."""
    view = state.view
    return not state.frozen[j] and j not in view.in_service and not view.required[j]
