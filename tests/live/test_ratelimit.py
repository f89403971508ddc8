"""Token-bucket math, checked with a fake clock: no assertion depends on wall time."""

from __future__ import annotations

import threading

import pytest

from reconciler.live.ratelimit import PerActionLimiter, RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps on it (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_first_call_is_free_then_calls_are_spaced_by_one_over_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock.sleeps == pytest.approx([0.25] * 4)
    assert clock.now == pytest.approx(101.0)


def test_idle_time_refills_but_never_beyond_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=3, clock=clock, sleep=clock.sleep)
    clock.now += 60  # a long idle period only ever banks `burst` tokens
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == pytest.approx([0.1])


def test_partial_refill_shortens_the_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 0.2  # 0.4 of a token has accrued
    limiter.acquire()
    assert clock.sleeps == pytest.approx([0.3])


def test_reservations_queue_up_when_callers_do_not_sleep() -> None:
    clock = FakeClock()  # frozen: nobody sleeps on it, as if many threads reserved at the same instant
    limiter = RateLimiter(5.0, clock=clock, sleep=clock.sleep)
    assert [limiter.reserve() for _ in range(4)] == pytest.approx([0.0, 0.2, 0.4, 0.6])


def test_concurrent_reservations_are_never_lost_or_duplicated() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100.0, clock=clock, sleep=clock.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [limiter.reserve() for _ in range(200)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every reservation got its own slot: exactly 0, 1/rate, 2/rate, ... with no gaps or repeats.
    assert sorted(round(w * 100) for w in waits) == list(range(1600))


@pytest.mark.parametrize("rate", [None, 0, -1])
def test_no_rate_means_unlimited(rate: float | None) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    assert limiter.unlimited
    for _ in range(1000):
        limiter.acquire()
    assert clock.sleeps == []
    per_action = PerActionLimiter(rate, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        per_action.acquire("GetRepositoryPolicy")
    assert clock.sleeps == []


def test_each_action_has_its_own_bucket() -> None:
    clock = FakeClock()
    limiter = PerActionLimiter(2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire("DescribeRepositories")
    limiter.acquire("GetRepositoryPolicy")  # a different action: its own full bucket, no wait
    assert clock.sleeps == []
    limiter.acquire("GetRepositoryPolicy")
    assert clock.sleeps == pytest.approx([0.5])
    assert limiter.limiter("GetRepositoryPolicy") is limiter.limiter("GetRepositoryPolicy")
