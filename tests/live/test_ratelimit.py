"""The pacing algorithm, checked with a fake clock and a simulated server: no assertion depends on wall time.

`simulate` (pacing_sim.py) is a discrete-event model of what the emulator does (a per-action token bucket
with burst = rate, checked after the call's latency) and of what botocore's standard retries do, driven
through the same non-blocking `Pacer` methods the threads use. Deterministic for a seed, so the figures the
benchmarks measure on a real machine (every run within 1.3x of the floor, under 3% of calls throttled) are
asserted here over many seeds, in simulated seconds, whatever the load on the machine running the tests.
"""

from __future__ import annotations

import math
import threading

import pytest
from pacing_sim import simulate

from reconciler.live.ratelimit import (
    CALLS_PER_PROBE,
    CUT,
    PLATEAU,
    SLOW_START_CUT,
    START_RATE,
    AdaptiveRate,
    Pacer,
    PerActionPacer,
    Ticket,
)

SEEDS = range(20)


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


# --- the rate ----------------------------------------------------------------------------------------------


def succeed(rate: AdaptiveRate, now: float, calls: int, per_second: float) -> float:
    """`calls` sends, each answered at once with success, `per_second` apart; returns the time after."""
    for _ in range(calls):
        rate.on_send(now)
        rate.on_success(now)
        now += 1.0 / per_second
    return now


def test_slow_start_raises_the_rate_while_calls_succeed_and_stops_at_the_ceiling() -> None:
    rate = AdaptiveRate(2.5 * START_RATE)
    assert rate.rate == START_RATE
    seen = []
    now = 0.0
    for _ in range(40):
        now = succeed(rate, now, 5, rate.rate)
        seen.append(rate.rate)
    assert seen == sorted(seen) and seen[0] > START_RATE
    assert rate.rate == 2.5 * START_RATE and rate.slow_start and rate.cuts == 0


def test_the_rate_never_runs_far_ahead_of_what_is_sent() -> None:
    # Latency, not the rate, holds the calls back to 40/s: the rate is capped at twice that, so a cut
    # after a later throttle starts from something real.
    rate = AdaptiveRate(1000.0)
    succeed(rate, 0.0, 400, per_second=40.0)
    assert rate.rate == pytest.approx(80.0, rel=0.05)


def test_first_throttle_halves_the_rate_admitted_over_the_last_second() -> None:
    rate = AdaptiveRate(1000.0)
    now = succeed(rate, 0.0, 300, per_second=60.0)  # 5 s of success at 60/s: the rate grew past it
    assert rate.rate > 60.0
    rate.on_throttle(now, sent=now - 0.02)
    assert not rate.slow_start and rate.cuts == 1
    assert rate.rate == pytest.approx(30.0, rel=0.05)  # half of the ~60/s admitted, not of the pacing rate


def test_throttles_of_calls_sent_before_the_cut_do_not_cut_again() -> None:
    rate = AdaptiveRate(1000.0)
    now = succeed(rate, 0.0, 300, per_second=60.0)
    rate.on_throttle(now, sent=now - 0.02)
    after_cut = rate.rate
    for late in range(5):  # the rest of the same episode: sent before the cut, answered after it
        rate.on_throttle(now + 0.01 * late, sent=now - 0.01)
    assert rate.rate == after_cut and rate.cuts == 1
    rate.on_throttle(now + 0.5, sent=now + 0.4)  # sent after the cut: news, so another cut
    assert rate.rate < after_cut and rate.cuts == 2


def test_throttles_of_calls_sent_within_a_round_trip_after_the_cut_are_the_same_episode() -> None:
    # Sent just after the cut, they reach the server with the last calls sent before it.
    rate = AdaptiveRate(1000.0)
    now = succeed(rate, 0.0, 300, per_second=60.0)
    rate.on_throttle(now, sent=now - 0.04, latency=0.04)
    after_cut = rate.rate
    rate.on_throttle(now + 0.06, sent=now + 0.03, latency=0.04)
    assert rate.rate == after_cut and rate.cuts == 1
    # The round trip is the one measured at the cut: a slower answer since does not stretch it.
    rate.on_throttle(now + 0.1, sent=now + 0.05, latency=0.5)
    assert rate.rate < after_cut and rate.cuts == 2


def paced(rate: AdaptiveRate, now: float, calls: int) -> float:
    """`calls` successful calls sent at the rate's own pace (as the Pacer sends them)."""
    for _ in range(calls):
        rate.on_send(now)
        rate.on_success(now)
        now += 1.0 / rate.rate
    return now


def test_after_a_cut_the_rate_climbs_back_to_a_plateau_just_under_the_throttling_rate_and_holds() -> None:
    rate = AdaptiveRate(1000.0)
    now = paced(rate, 0.0, 100)
    rate.on_throttle(now, sent=now)  # leaves slow start
    now = paced(rate, now, 300)
    throttled_at = rate.rate
    rate.on_throttle(now, sent=now)  # a cut in congestion avoidance
    assert rate.rate == pytest.approx(CUT * throttled_at, rel=0.02)
    plateau = PLATEAU * throttled_at
    cut_at, samples = now, []
    while now < cut_at + 5.0:  # the climb takes about 3 s, then the plateau holds
        now = paced(rate, now, 1)
        samples.append(rate.rate)
    assert samples == sorted(samples)  # a concave climb, from the cut to the plateau
    assert samples[-1] == pytest.approx(plateau, rel=0.01)
    assert max(samples) <= plateau * 1.001
    # Later the probe above the plateau begins (in case the limit rose).
    now = paced(rate, now, 40 * CALLS_PER_PROBE)
    assert rate.rate > plateau * 1.05


def test_the_floor_keeps_a_run_going_under_any_throttling() -> None:
    rate = AdaptiveRate(1000.0)
    now = 0.0
    for _ in range(50):
        now += 1.0
        rate.on_throttle(now, sent=now)
    assert rate.rate == rate.floor > 0


def test_successes_of_calls_sent_before_the_first_cut_that_come_back_after_it_raise_the_cut() -> None:
    # 8 calls/s with a bucket of 8: at 80 calls/s the 9th call is throttled, but answers come back out of
    # order, so only 6 successes were counted when its throttle arrived. Cut from 6, the rate would sit at
    # 3 and the plateau at 5.7 calls/s for seconds: a run a third longer than it needs.
    rate = AdaptiveRate(1000.0)
    sends = [100.0 + i / 80 for i in range(11)]
    for sent in sends:
        rate.on_send(sent)
    for sent in sends[:6]:
        rate.on_success(sent + 0.02, sent)
    rate.on_throttle(sends[9] + 0.02, sent=sends[9], latency=0.02)
    assert rate.rate == pytest.approx(SLOW_START_CUT * 6)
    for sent in sends[6:8]:  # the late answers: sent before the cut, admitted
        rate.on_success(sends[9] + 0.05, sent)
    assert rate.rate == pytest.approx(SLOW_START_CUT * 8, rel=0.02)
    rate.on_success(sends[9] + 0.06, sends[9] + 0.03)  # a call sent after the cut: not late news
    plateau_at = rate.rate
    paced(rate, sends[9] + 0.1, 60)
    assert plateau_at < rate.rate <= PLATEAU * 8 * 1.001


# --- the pacer ---------------------------------------------------------------------------------------------


def test_fixed_rate_spaces_calls_by_one_over_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, adaptive=False, concurrency=8, clock=clock, sleep=clock.sleep)
    tickets = [pacer.acquire() for _ in range(5)]
    assert clock.sleeps == pytest.approx([0.25] * 4)
    assert [t.sent for t in tickets] == pytest.approx([100.0, 100.25, 100.5, 100.75, 101.0])


def test_no_rate_means_no_pacing() -> None:
    clock = FakeClock()
    pacer = Pacer(None, concurrency=4, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        pacer.release(pacer.acquire(), throttled=False)
    assert clock.sleeps == [] and pacer.rate is None


def test_calls_in_flight_follow_rate_times_latency_up_to_the_cap() -> None:
    clock = FakeClock()
    pacer = Pacer(1000.0, max_concurrency=64, clock=clock, sleep=clock.sleep)
    for _ in range(50):  # answers take 100 ms
        ticket = pacer.acquire()
        clock.now += 0.1
        pacer.release(ticket, throttled=False)
    assert pacer.latency == pytest.approx(0.1, rel=0.01)
    assert pacer.rate is not None and pacer.control is not None
    assert pacer.window() == math.ceil(pacer.rate * pacer.latency * 2) + 1
    pacer.control.rate = 1000.0  # a rate that needs more than the cap
    assert pacer.window() == 64
    fixed = Pacer(1000.0, concurrency=3, clock=clock, sleep=clock.sleep)
    assert fixed.window() == 3  # --concurrency N: fixed, whatever the rate


def test_a_full_window_makes_callers_wait_for_an_answer() -> None:
    clock = FakeClock()
    pacer = Pacer(None, concurrency=2, clock=clock, sleep=clock.sleep)
    assert pacer.try_enter(clock()) is not None
    assert pacer.try_enter(clock()) is not None
    assert pacer.try_enter(clock()) is None
    pacer.finish(pacer.sent(clock()), clock(), throttled=False)
    assert pacer.try_enter(clock()) is not None


def test_slots_handed_out_before_a_cut_are_void() -> None:
    clock = FakeClock()
    pacer = Pacer(1000.0, start=100.0, max_concurrency=8, clock=clock, sleep=clock.sleep)
    first = pacer.try_enter(clock())
    assert first is not None
    ticket = pacer.sent(first)
    queued = pacer.try_enter(clock())  # reserved at 100/s
    assert queued == pytest.approx(first + 0.01)
    cuts = pacer.cuts
    answered = clock() + 0.005
    pacer.finish(ticket, answered, throttled=True)
    assert pacer.stale(cuts)
    assert pacer.rate is not None and pacer.rate < 100.0
    # Re-slotted at the new, slower rate, and not before one latency has passed since the throttle came
    # back: the calls already on their way reach the server first, at a bucket they keep empty.
    slot = pacer.slot(clock())
    assert slot >= first + 1.0 / pacer.rate
    assert slot == pytest.approx(answered + pacer.latency)
    assert pacer.slot(clock()) == pytest.approx(slot + 1.0 / pacer.rate)


def test_concurrent_callers_are_never_lost_or_duplicated() -> None:
    clock = FakeClock()
    lock = threading.Lock()
    pacer = Pacer(100.0, adaptive=False, concurrency=8, clock=clock, sleep=lambda s: None)
    sent: list[float] = []

    def worker() -> None:
        for _ in range(100):
            ticket = pacer.acquire()
            with lock:
                sent.append(ticket.sent)
            pacer.release(ticket, throttled=False)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 800 and pacer.in_flight == 0


def test_each_action_has_its_own_pacer() -> None:
    clock = FakeClock()
    pacers = PerActionPacer(2.0, adaptive=False, concurrency=4, clock=clock, sleep=clock.sleep)
    pacers.pacer("DescribeRepositories").acquire()
    pacers.pacer("GetRepositoryPolicy").acquire()  # its own schedule: no wait
    assert clock.sleeps == []
    pacers.pacer("GetRepositoryPolicy").acquire()
    assert clock.sleeps == pytest.approx([0.5])
    assert pacers.pacer("GetRepositoryPolicy") is pacers.pacer("GetRepositoryPolicy")
    assert set(pacers.summary()) == {"DescribeRepositories", "GetRepositoryPolicy"}


# --- against a simulated server (tests/live/pacing_sim.py) ---------------------------------------------


@pytest.mark.parametrize(("limit", "calls"), [(5, 300), (8, 1000), (20, 1000), (60, 1000), (200, 3000)])
def test_an_unknown_limit_is_found_with_few_throttles_and_little_lost_time(limit: int, calls: int) -> None:
    result = simulate(limit, calls)
    assert result.throttled / result.sent < 0.03
    # Simulated seconds, not wall time: the calls took within 1.2x of what the limit allows at best.
    assert result.elapsed <= 1.2 * calls / limit
    assert 0.7 * limit <= result.final_rate <= 1.3 * limit


@pytest.mark.parametrize("limit", [100, 200, 400])
def test_answers_of_uneven_latency_do_not_hold_the_rate_below_the_limit(limit: int) -> None:
    # Real round trips vary: answers come out of order and late. Whatever the pacer reads from them must
    # not keep it well under the limit for the rest of the run.
    calls = 30 * limit
    result = simulate(limit, calls, latency=0.04, spread=0.6)
    assert result.elapsed <= 1.15 * calls / limit
    assert result.throttled / result.sent < 0.03


def test_latency_bound_the_calls_in_flight_open_up_to_the_cap() -> None:
    # A limit far away: 64 calls in flight at 40 ms could do 1,600/s, and that is what the pacer reaches.
    result = simulate(5000, 2000, latency=0.04, ceiling=5000.0)
    assert result.throttled == 0
    # Simulated seconds: 1.25 s at 1,600/s, plus the climb from START_RATE (about 3 s).
    assert result.elapsed < 4.5


def test_successes_are_kept_for_one_window_only_without_any_throttle() -> None:
    # Only the last second is ever read; a run that is never throttled must not keep every success.
    control = AdaptiveRate(1000.0)
    now = 100.0
    for _ in range(5000):
        control.on_send(now)
        now += 0.001
        control.on_success(now)
    assert len(control._successes) <= 1001
    assert control.admitted_rate(now) == pytest.approx(1000.0, rel=0.01)


def test_acquire_takes_a_place_anyway_when_the_window_is_held_by_a_place_never_given_back() -> None:
    pacer = Pacer(None, concurrency=1, max_wait=0.1)
    pacer.acquire()  # leaked: its outcome never comes back
    done: list[Ticket] = []
    waiter = threading.Thread(target=lambda: done.append(pacer.acquire()), daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert not waiter.is_alive() and len(done) == 1
    assert pacer.in_flight == 2  # over the window by the leaked place, not stalled on it
    pacer.release(done[0], throttled=False)
    assert pacer.in_flight == 1


@pytest.mark.parametrize(
    ("limit", "calls", "latency"),
    [
        (8, 300, 0.02),
        (60, 600, 0.02),
        (200, 2000, 0.02),
        (8, 1000, 0.04),
        (60, 1000, 0.04),
        (200, 1000, 0.04),
    ],
)
def test_every_run_finds_an_unknown_limit_without_stalling(limit: int, calls: int, latency: float) -> None:
    # The benchmarks' regimes (pacing.py at 20 ms, run.py at 40 ms), 20 seeds each, answers of uneven
    # latency: the goal is every run within 1.3x of the floor (the tool's start-up included, which the
    # simulation has not), and under 3% of the calls throttled.
    for seed in SEEDS:
        result = simulate(limit, calls, latency=latency, spread=0.3, seed=seed)
        assert result.failed == 0
        assert result.elapsed <= 1.2 * calls / limit, seed
        assert result.throttled_share < 0.03, seed
        assert 0.7 * limit <= result.final_rate <= 1.3 * limit, seed


def test_with_no_limit_in_sight_slow_start_reaches_the_cap_quickly() -> None:
    # The latency-bound plan: 600 reads at 40 ms, the limit (1,000 calls/s) never reached. Doubling every
    # 0.7 s took 2.4 simulated seconds; the goal (10x a serial loop of 24 s of round trips, process
    # start-up included) needs the reads done in well under 2 s.
    for seed in SEEDS:
        result = simulate(1000, 600, latency=0.04, spread=0.3, seed=seed)
        assert result.throttled == 0
        assert result.elapsed < 2.1, seed


def test_a_fixed_rate_at_the_limit_is_never_throttled_by_a_bucket_with_a_little_slack() -> None:
    # --max-rps at the account's limit: sends 1/rate apart reach a bucket of 2 tokens with uneven
    # latency; the spare token absorbs the jitter.
    for seed in SEEDS:
        pacers = PerActionPacer(10.0, adaptive=False, concurrency=8)
        result = simulate(10, 25, burst=2.0, spread=0.3, seed=seed, pacers=pacers)
        assert result.throttled == 0 and result.sent == 25
