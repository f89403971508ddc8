"""The clock the HTTP layer waits with: wall time, monotonic time and sleep, injected so tests and the
sandbox can run backoffs and rate-limit waits instantly and deterministically (`SimulatedClock`)."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (rate-limit reset times are given that way)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (spacing of writes)."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimulatedClock:
    """A clock whose `sleep` only moves time forward and is recorded in `sleeps`: tests and the sandbox
    use it so a minute-long rate-limit wait takes no time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._monotonic = 1_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            step = max(0.0, seconds)
            self.now += step
            self._monotonic += step
