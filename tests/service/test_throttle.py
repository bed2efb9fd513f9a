"""Failed-authentication throttling per peer address, on a fake clock."""

from __future__ import annotations

import pytest

from scheduler.service.throttle import AuthThrottle, peer_address


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_out_after_the_limit_within_the_window() -> None:
    """The 3rd failure within 60 s locks the address out for 30 s; then it may try again."""
    clock = FakeClock()
    throttle = AuthThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    throttle.failed("10.0.0.5")
    clock.now += 59
    throttle.failed("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 0
    throttle.failed("10.0.0.5")
    assert throttle.retry_after("10.0.0.5") == 30
    assert throttle.retry_after("10.0.0.6") == 0  # other addresses are not affected
    clock.now += 29.5
    assert throttle.retry_after("10.0.0.5") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.retry_after("10.0.0.5") == 0


def test_failures_outside_the_window_do_not_count() -> None:
    """Failures spread wider than the window never lock an address out."""
    clock = FakeClock()
    throttle = AuthThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    for _ in range(10):
        throttle.failed("10.0.0.5")
        clock.now += 31
    assert throttle.retry_after("10.0.0.5") == 0


def test_memory_is_bounded_by_the_peer_cap() -> None:
    """A flood of distinct addresses keeps at most max_peers of them, the latest ones."""
    throttle = AuthThrottle(max_failures=2, max_peers=100, clock=FakeClock())
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert throttle.tracked == 100
    assert throttle.retry_after("10.0.3.231") > 0  # the 1000th address is still locked out
    assert throttle.retry_after("10.0.0.0") == 0  # the first was forgotten


def test_peer_address_drops_the_port() -> None:
    """Peers are keyed by IP without the port, for IPv4 and IPv6."""
    assert peer_address("ipv4:10.0.0.5:53124") == "10.0.0.5"
    assert peer_address("ipv6:[::1]:53124") == "::1"
    assert peer_address("unix:/tmp/s") == "unix:/tmp/s"
