"""The run transition table's preemption states: where STOPPING and PREEMPTED fit."""

from __future__ import annotations

from scheduler.domain.states import PREEMPTABLE_RUNS, RUN_TRANSITIONS, RunState


def test_only_live_runs_stop_and_only_stopping_runs_end_preempted() -> None:
    """LEASED, PENDING and RUNNING may become STOPPING; STOPPING ends only as PREEMPTED (or
    LOST with its agent); PREEMPTED is final and holds no capacity, STOPPING still does."""
    assert {s for s, to in RUN_TRANSITIONS.items() if RunState.STOPPING in to} == set(
        PREEMPTABLE_RUNS
    )
    assert {s for s, to in RUN_TRANSITIONS.items() if RunState.PREEMPTED in to} == {
        RunState.STOPPING
    }
    assert RUN_TRANSITIONS[RunState.STOPPING] == {RunState.PREEMPTED, RunState.LOST}
    assert RUN_TRANSITIONS[RunState.PREEMPTED] == frozenset()
    assert RunState.PREEMPTED.terminal and not RunState.STOPPING.terminal
    assert RunState.STOPPING.active
    assert set(RUN_TRANSITIONS) == set(RunState)
