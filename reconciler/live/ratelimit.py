"""Client-side pacing: a thread-safe token bucket, and one bucket per API action.

ECR throttles control-plane calls per account and region, and that budget is shared with every other
client in the account. Pacing ourselves below it keeps our own calls from being throttled (and retried,
which costs more calls) and leaves room for everyone else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """A token bucket: `rate_per_second` tokens a second, holding at most `burst` (default 1).

    `acquire()` reserves a token and, when the bucket is empty, sleeps until the reserved token is due.
    Reserving under the lock and sleeping outside it keeps callers in arrival order without one sleeping
    thread blocking the others from reserving theirs. A rate of None or <= 0 means unlimited.
    """

    def __init__(
        self,
        rate_per_second: float | None,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_second if rate_per_second is not None and rate_per_second > 0 else None
        # A burst of 1 spaces calls evenly: a server-side limiter at the same rate then never sees two
        # calls closer together than 1/rate, which is what "run at the floor without throttles" needs.
        self.burst = max(1.0, burst if burst is not None else 1.0)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate is None

    def reserve(self) -> float:
        """Take a token now (possibly going into debt) and return how long to wait before using it."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            # Negative tokens are reservations by earlier callers: this caller waits behind all of them.
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> None:
        """Block until a token is available."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)


class PerActionLimiter:
    """One `RateLimiter` per action name (e.g. ECR operation), created on first use, shared by threads."""

    def __init__(
        self,
        rate: float | None,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate is not None and rate > 0 else None
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def limiter(self, action: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(action)
            if limiter is None:
                limiter = RateLimiter(self.rate, self._burst, clock=self._clock, sleep=self._sleep)
                self._limiters[action] = limiter
            return limiter

    def acquire(self, action: str) -> None:
        if self.rate is None:
            return
        self.limiter(action).acquire()
