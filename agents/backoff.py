"""Retry delays of the agent's sync loop."""

from __future__ import annotations

import random

# Until the scheduler has said how long its lease timeout is, assume nothing longer than this.
DEFAULT_CAP = 5.0


def cap_for_lease_timeout(lease_timeout_seconds: float) -> float:
    """The longest retry delay for a scheduler declaring a cluster LOST after this silence.

    A fifth of the lease timeout (and never more than DEFAULT_CAP) leaves room for several
    attempts before the scheduler gives up on the cluster, even if each one itself times out.
    """
    if not lease_timeout_seconds > 0:
        return DEFAULT_CAP
    return min(DEFAULT_CAP, lease_timeout_seconds / 5)


class Backoff:
    """Exponential delays with jitter, so that agents of many clusters do not retry in step.

    No delay exceeds `maximum`, jitter included; `limit()` lowers it further while the
    scheduler's lease timeout asks for that.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = DEFAULT_CAP,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self._initial, self._maximum, self._factor, self._jitter = initial, maximum, factor, jitter
        self._configured = maximum
        self._rng = rng or random.Random()
        self._next = initial

    @property
    def maximum(self) -> float:
        return self._maximum

    def limit(self, maximum: float) -> None:
        """Caps delays at `maximum`, or at the constructor's maximum if that is lower."""
        self._maximum = min(self._configured, maximum)
        self._next = min(self._next, self._maximum)

    def next(self) -> float:
        delay = self._next
        self._next = min(self._maximum, self._next * self._factor)
        jittered = delay * (1 + self._rng.uniform(-self._jitter, self._jitter))
        return min(self._maximum, jittered)

    def reset(self) -> None:
        self._next = min(self._initial, self._maximum)
