"""Throttling of failed authentication per peer address, in memory.

After `max_failures` failed authentications within `window_s` from one address, every call
from it is refused for `lockout_s` before its token is even looked at, so guessing tokens
costs the database nothing. At most `max_peers` addresses are tracked; the least recently
failing one is forgotten first, so a flood of addresses cannot exhaust memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Peer:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class AuthThrottle:
    def __init__(
        self,
        *,
        max_failures: int = 20,
        window_s: float = 60.0,
        lockout_s: float = 60.0,
        max_peers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._max_peers = max_peers
        self._clock = clock
        self._peers: OrderedDict[str, _Peer] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, peer: str) -> float:
        """Seconds `peer` must wait before it may try again; 0 when it may call now."""
        with self._lock:
            state = self._peers.get(peer)
            if state is None:
                return 0.0
            return max(0.0, state.locked_until - self._clock())

    def failed(self, peer: str) -> None:
        """Counts one failed authentication of `peer`; locks it out at the limit."""
        now = self._clock()
        with self._lock:
            state = self._peers.pop(peer, None) or _Peer()
            self._peers[peer] = state  # most recently failing last
            while state.failures and state.failures[0] <= now - self._window:
                state.failures.popleft()
            state.failures.append(now)
            if len(state.failures) >= self._max_failures:
                state.locked_until = now + self._lockout
                state.failures.clear()
            while len(self._peers) > self._max_peers:
                self._peers.popitem(last=False)

    @property
    def tracked(self) -> int:
        with self._lock:
            return len(self._peers)


def peer_address(peer: str) -> str:
    """The IP of a gRPC peer string without its port: "ipv4:10.0.0.5:5312" -> "10.0.0.5",
    "ipv6:[::1]:5312" -> "::1"; other forms (unix sockets) are kept whole."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer[:128]
