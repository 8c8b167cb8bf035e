"""Throttling of failed logins, per username and per client address: after
MAX_FAILURES["user"] failures for a username (MAX_FAILURES["addr"] from an address: an
office behind one NAT address has many users) within WINDOW_S seconds, it gets 429 with Retry-After
until the oldest failure leaves the window, whatever the password; a success clears the
username's count. Counts live in the API process (a deployment with several API
processes behind a proxy lets each count on its own: the proxy should limit too, README
"Production profile"); at most MAX_KEYS keys are kept, the stalest dropped first."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_FAILURES = {"user": 5, "addr": 20}  # by the key's prefix
WINDOW_S = 300.0
MAX_KEYS = 100_000


class LoginThrottle:
    """Failure times by key ("user:<name>", "addr:<ip>"), in a bounded LRU."""

    def __init__(self, max_failures: dict[str, int] | None = None, window_s: float = WINDOW_S,
                 clock=time.monotonic) -> None:
        self.max_failures, self.window_s, self.clock = max_failures or MAX_FAILURES, window_s, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, *keys: str) -> float | None:
        """Seconds until a login may be tried for ``keys`` again; None when it may now."""
        now = self.clock()
        with self._lock:
            waits = [times[-self.max_failures[key.split(":")[0]]] + self.window_s - now for key in keys
                     if len(times := self._recent(key, now)) >= self.max_failures[key.split(":")[0]]]
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
