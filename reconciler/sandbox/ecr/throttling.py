"""Throttling: per (account, region, action) token buckets (knobs `tps`, `default_tps`, `burst`) and a
throttle storm; both answer HTTP 400 `ThrottlingException`, which botocore retries."""

from __future__ import annotations

import threading
import time

from reconciler.sandbox.ecr.backend import caller
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError
from reconciler.sandbox.ecr.faults import Dice


class _TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.capacity = rate, max(burst, 1.0)
        self.tokens, self.updated = self.capacity, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttling:
    """The layer; it holds the token buckets."""

    def __init__(self, dice: Dice) -> None:
        self._lock = threading.Lock()
        self._dice = dice
        self._buckets: dict[tuple[str, str, str], _TokenBucket] = {}
        self._storm_calls = 0  # calls a storm by count has covered so far

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def restart_storm(self) -> None:
        with self._lock:
            self._storm_calls = 0

    def _in_storm(self, call: EcrCall, now: float) -> bool:
        config = call.config
        if config.throttle_storm_fraction <= 0:
            return False
        if config.throttle_storm_actions is not None and call.action not in config.throttle_storm_actions:
            return False
        if config.throttle_storm_calls is None:
            return now < config.throttle_storm_until
        with self._lock:
            self._storm_calls += 1
            return self._storm_calls <= config.throttle_storm_calls

    def __call__(self, call: EcrCall, following: Handler) -> Answer:
        config, action = call.config, call.action
        now = time.monotonic()
        if self._in_storm(call, now) and self._dice.roll(config.throttle_storm_fraction):
            raise SandboxError("ThrottlingException", "Rate exceeded")
        rate = config.tps.get(action, config.tps.get("*", config.default_tps))
        if rate is not None:
            account, region = caller(call.environ)
            key = (account, region, action)
            with self._lock:
                bucket = self._buckets.get(key)
                if bucket is None:
                    burst = config.burst.get(action, config.burst.get("*", rate))
                    bucket = self._buckets[key] = _TokenBucket(rate, burst, now)
                taken = bucket.take(now)
            if not taken:
                raise SandboxError("ThrottlingException", "Rate exceeded")
        return following(call)
