"""The packing moves' Budget: steps, a deadline and the caller's should_stop each end it."""

from __future__ import annotations

import time

from scheduler.placement.search.budget import Budget


def test_each_limit_ends_the_budget() -> None:
    assert not Budget().exhausted()
    steps = Budget(steps=2)
    assert not steps.spent() and steps.spent()
    assert Budget(deadline=time.monotonic() - 1).exhausted()
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) >= 3

    caller = Budget(deadline=time.monotonic() + 3600, steps=100, should_stop=should_stop)
    assert [caller.spent() for _ in range(3)] == [False, False, True]
    assert caller.used == 3
