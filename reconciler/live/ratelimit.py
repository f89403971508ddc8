"""Client-side pacing that finds the account's real limit, per API action.

AWS publishes no rate quota for the ECR calls we make (DescribeRepositories, GetRepositoryPolicy,
SetRepositoryPolicy: Amazon ECR's service quotas page, see docs/PACING.md): the limit is found by being
throttled, and it is shared with every other client in the account. So each action gets:

- `AdaptiveRate`: the rate, found the way TCP finds a path's capacity. Slow start (a fixed step per successful
  call, so exponential in time while calls succeed) from a safe rate; on a
  `ThrottlingException` a multiplicative cut; then CUBIC's curve (as in botocore's adaptive retry mode):
  back quickly to just under the rate where throttling began, a long plateau there, and a slow, then faster
  probe above it in case the limit rose (another client stopped). One cut per episode: throttles of calls
  sent before the last cut (or within a round trip after it) are the same congestion, not new news; their
  successes are news, though: counted when they come back, they raise a cut made from too few. Pure: time
  comes in as arguments. The whole story, with sources and figures: docs/PACING.md.
- `Pacer`: thread-safe, blocking. Spaces sends 1/rate apart (a burst of 1, so a server-side bucket never
  sees two calls closer than that) and bounds the calls in flight to what the current rate needs at the
  measured latency (rate x latency, with margin, up to a cap) unless a fixed concurrency is given. The
  bound also keeps the slots handed out in advance few, so a cut takes effect within about one latency.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# The first rate. Against a low limit it costs one episode of throttles at the start, about the calls in
# flight when the first throttle comes back (4-5 at 5 or 8 calls/s on the emulator), while each doubling it
# saves is 0.7 s of a run at a high limit. (botocore's adaptive mode starts with no limit at all.)
START_RATE = 80.0
# Never pace slower than this, whatever the throttling: a call every 2 s still finishes a run.
MIN_RATE = 0.5
# Slow start: each success adds this many calls/s, so while the pacing is what holds calls back the rate
# doubles every ln2/1.5 ~ 0.46 s. Faster doubling overshoots further before the first throttle arrives (a
# server bucket with a burst hides the limit until it is drained), and every call on the wire in that
# overshoot is one more throttle; slower doubling is most of a short run where no limit is in sight. In the
# simulation (tests/live/pacing_sim.py, 1,000 calls at 40 ms against 200 calls/s, 20-40 seeds) 1.0 costs
# 1.2-2.4% of the calls throttled and 2.4 s for 600 calls with no limit in sight, 1.5 1.9-2.9% and 2.0 s,
# 2.0 2.0-3.0% and 1.8 s (docs/PACING.md).
SLOW_START_GAIN = 1.5
# The first cut (leaving slow start) halves the rate that was actually admitted over the last second:
# a server bucket holding at most one second of calls admits at most twice its rate in any second, so half
# of it is at or under the limit.
SLOW_START_CUT = 0.5
# Later cuts: to 80% of the admitted rate; the plateau sits at 95% of it: just under where throttling began.
CUT = 0.8
PLATEAU = 0.95
# CUBIC's curve, relative to the plateau: rate(t) = plateau * (1 + C * (t - K)^3), t since the cut, K the
# time to climb back to the plateau: K = cbrt((1 - CUT/PLATEAU) / CLIMB_C) ~ 3 s. Above the plateau the
# probe is gentler (PROBE_C): a server bucket that banked a second of calls while we sat under its rate
# hides the limit until drained, so the faster the probe, the further past the limit it is when the first
# throttle arrives (with PROBE_C, ~20% past it after ~20 s of probing).
CLIMB_C = 0.006
PROBE_C = 0.00003
# Stay on the plateau at least this many calls, so probing (each probe ends in a throttle) costs under 1%.
CALLS_PER_PROBE = 100
# The admitted rate is measured over this window (seconds).
WINDOW = 1.0
# Never let the rate run ahead of what is actually sent by more than this factor: a rate that is not being
# used (latency, not the limit, holds the calls back) says nothing about the limit, and cutting from it
# would not slow anything down.
USE_FACTOR = 2.0


class AdaptiveRate:
    """The pacing rate of one action. Not thread-safe: `Pacer` serializes calls to it."""

    def __init__(self, ceiling: float, *, start: float = START_RATE, floor: float = MIN_RATE) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.rate = max(self.floor, min(start, ceiling))
        self.slow_start = True
        self.cuts = 0
        self._start = self.rate
        self._plateau = self.rate
        self._climb = 0.0  # K: seconds from the last cut back to the plateau
        self._hold = 0.0  # seconds on the plateau before probing above it
        self._cut_at = -math.inf
        self._cut_from = self.rate  # the rate when the last cut was made
        self._cut_factor = SLOW_START_CUT
        self._cut_base = 0.0  # the admitted rate the last cut was made from
        self._quiet_until = -math.inf  # the cut's round trip: calls sent before this are its episode
        self._sends: deque[float] = deque()
        self._successes: deque[float] = deque()
        self._first_send: float | None = None

    @staticmethod
    def _trim(events: deque[float], now: float) -> None:
        while events and events[0] <= now - WINDOW:
            events.popleft()

    @staticmethod
    def _per_second(events: deque[float], now: float, since: float | None) -> float:
        AdaptiveRate._trim(events, now)
        span = WINDOW if since is None else min(WINDOW, max(now - since, 1e-3))
        return len(events) / span

    def on_send(self, now: float) -> None:
        if self._first_send is None:
            self._first_send = now
        self._sends.append(now)

    def sent_rate(self, now: float) -> float:
        return self._per_second(self._sends, now, self._first_send)

    def admitted_rate(self, now: float) -> float:
        # Always over the whole window, even in the first second: a bucket that holds a second of calls
        # admits at most twice its rate in any one second, but any amount in a shorter span.
        return self._per_second(self._successes, now, None)

    def on_success(self, now: float, sent: float | None = None) -> None:
        self._successes.append(now)
        self._trim(self._successes, now)  # only the last window is ever read: keep no more
        if sent is not None and sent < self._cut_at and now < self._quiet_until + WINDOW:
            self._late_news(now)
        if self.slow_start:
            rate = self.rate + SLOW_START_GAIN
        else:
            t = now - self._cut_at - self._climb
            if t <= 0:
                rate = self._plateau * (1.0 + CLIMB_C * t**3)
            else:
                rate = self._plateau * (1.0 + PROBE_C * max(0.0, t - self._hold) ** 3)
        in_use = max(self._start, USE_FACTOR * self.sent_rate(now))
        self.rate = max(self.floor, min(rate, in_use, self.ceiling))

    def on_throttle(self, now: float, sent: float, latency: float = 0.0) -> None:
        """A call sent at `sent` was throttled. Cuts once per episode (one round trip): calls sent
        before the last cut were paced at the old rate, and calls sent within a latency after it reach
        the server mixed with the last of those, so their throttles are the congestion already acted on."""
        if sent < self._quiet_until:
            return
        self._cut_from = self.rate
        self._cut_factor = SLOW_START_CUT if self.slow_start else CUT
        self.slow_start = False
        self.cuts += 1
        self._cut_at = now
        self._quiet_until = now + latency
        self._set_cut(self._base(now))

    def _base(self, now: float) -> float:
        admitted = self.admitted_rate(now)
        return min(self._cut_from, admitted) if admitted > 0 else self._cut_from

    def _set_cut(self, base: float) -> None:
        self._cut_base = base
        self.rate = max(self.floor, min(self.ceiling, self._cut_factor * base))
        self._plateau = max(self.rate, PLATEAU * base)
        self._climb = math.cbrt(max(0.0, 1.0 - self.rate / self._plateau) / CLIMB_C)
        # At low rates the curve alone would probe every few dozen calls: hold the plateau for longer.
        self._hold = max(0.0, CALLS_PER_PROBE / self._plateau - 2 * self._climb)

    def _late_news(self, now: float) -> None:
        """A call sent before the last cut succeeded after it: the server admitted more than was counted when
        the cut was made (answers come back out of order, and the first ones late while connections open).
        Counting it now keeps the cut from landing under the limit, where the plateau would hold it for
        seconds (a stall at low limits: 6 of 8 calls/s counted at the cut, the rate at 3, the plateau at
        5.7 for tens of seconds)."""
        base = self._base(now)
        if base > self._cut_base:
            self._set_cut(base)  # the curve (in `on_success`) then follows from the new plateau


@dataclass(frozen=True)
class Ticket:
    """One call's pass through a `Pacer`: when it was sent (for the outcome and the latency)."""

    sent: float


# Concurrency sized to the rate: calls in flight = rate x latency x margin (+1 for rounding), up to a cap.
DEFAULT_MAX_CONCURRENCY = 64
_WINDOW_MARGIN = 2.0
_FIRST_LATENCY = 0.05  # assumed before the first answer arrives
_LATENCY_WEIGHT = 0.1  # exponentially weighted moving average of the answers' latency
# The longest `acquire` waits for a place in the window before taking one anyway. A call holds its place
# for one attempt, which the read timeout bounds; a place still held after this long was never given back
# (a call whose outcome never came), and waiting on it would stall the run for good.
MAX_WAIT = 120.0


class Pacer:
    """Paces and bounds the calls of one action; thread-safe.

    `rate` None: no pacing (only the concurrency bound). `adaptive` False: a fixed rate of `rate`.
    `concurrency` None: calls in flight sized to rate x latency, at most `max_concurrency`; a number: fixed.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        adaptive: bool = True,
        concurrency: int | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        start: float = START_RATE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.fixed_rate = None if rate is None or rate <= 0 or adaptive else rate
        self.max_wait = max_wait
        self.control = AdaptiveRate(rate, start=start) if rate is not None and rate > 0 and adaptive else None
        self.concurrency = concurrency
        self.max_concurrency = max(1, concurrency or max_concurrency)
        self.latency = _FIRST_LATENCY
        self.in_flight = 0
        self.throttled = 0
        self._clock = clock
        self._sleep = sleep
        self._next_slot = -math.inf
        self._last_sent = -math.inf
        self._ready = threading.Condition(threading.Lock())

    @property
    def rate(self) -> float | None:
        return self.control.rate if self.control is not None else self.fixed_rate

    def window(self) -> int:
        """How many calls may be in flight (or waiting for their slot) now."""
        if self.concurrency is not None:
            return self.concurrency
        rate = self.rate
        if rate is None:
            return self.max_concurrency
        return max(1, min(self.max_concurrency, math.ceil(rate * self.latency * _WINDOW_MARGIN) + 1))

    def try_enter(self, now: float) -> float | None:
        """Non-blocking: take a place in the window and a slot; the slot's send time (>= now), or None when
        the window is full. The blocking `acquire` and a simulation both build on this."""
        if self.in_flight >= self.window():
            return None
        self.in_flight += 1
        return self.slot(now)

    def slot(self, now: float) -> float:
        """The next send time for a caller already in the window (again, when `stale` says its slot was
        handed out before a cut)."""
        rate = self.rate
        if rate is None:
            return now
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / rate
        return slot

    @property
    def cuts(self) -> int:
        return self.control.cuts if self.control is not None else 0

    def stale(self, cuts_when_reserved: int) -> bool:
        return cuts_when_reserved != self.cuts

    def sent(self, at: float) -> Ticket:
        self._last_sent = at
        if self.control is not None:
            self.control.on_send(at)
        return Ticket(sent=at)

    def finish(self, ticket: Ticket, now: float, *, throttled: bool, answered: bool = True) -> None:
        """The call's outcome: `throttled`, or answered (success or an error that is not about the rate),
        or neither (a network failure: no latency sample, no news about the limit)."""
        self.in_flight -= 1
        if answered or throttled:
            latency = max(0.0, now - ticket.sent)
            self.latency += _LATENCY_WEIGHT * (latency - self.latency)
        if throttled:
            self.throttled += 1
            if self.control is not None:
                cuts = self.control.cuts
                self.control.on_throttle(now, ticket.sent, self.latency)
                if self.control.cuts != cuts:
                    # Slots handed out at the old rate are void (their holders re-slot: `stale`), and
                    # nothing goes out for one latency while the calls already on their way reach the
                    # server: sent at once, new calls would arrive mixed with them, at a bucket those keep
                    # empty, and be throttled too.
                    self._next_slot = max(self._last_sent + 1.0 / self.control.rate, now + self.latency)
        elif answered and self.control is not None:
            self.control.on_success(now, ticket.sent)

    def summary(self) -> dict[str, float | int | None]:
        with self._ready:
            rate = self.rate
            return {
                "rate": None if rate is None else round(rate, 1),
                "window": self.window(),
                "latency_ms": round(1000 * self.latency, 1),
                "throttled": self.throttled,
                "cuts": self.cuts,
            }

    # -- blocking, for threads --

    def acquire(self) -> Ticket:
        # Real time, like the Condition's own waits (the injectable clock only moves when sleeping).
        deadline = time.monotonic() + self.max_wait
        with self._ready:
            slot = self.try_enter(self._clock())
            while slot is None:
                if time.monotonic() >= deadline:
                    # The window is held by a place never given back: go over it by one rather than stall.
                    self.in_flight += 1
                    slot = self.slot(self._clock())
                    break
                self._ready.wait(0.05)  # re-check now and then: the window also grows with the rate
                slot = self.try_enter(self._clock())
            cuts = self.cuts
        while True:
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            with self._ready:
                if not self.stale(cuts):
                    return self.sent(self._clock())
                cuts = self.cuts
                slot = self.slot(self._clock())

    def release(self, ticket: Ticket, *, throttled: bool, answered: bool = True) -> None:
        with self._ready:
            self.finish(ticket, self._clock(), throttled=throttled, answered=answered)
            self._ready.notify_all()


class PerActionPacer:
    """One `Pacer` per action name (e.g. ECR operation), created on first use, shared by threads."""

    def __init__(
        self,
        rate: float | None,
        *,
        adaptive: bool = True,
        concurrency: int | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate if rate is not None and rate > 0 else None
        self.adaptive = adaptive
        self.concurrency = concurrency
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pacers: dict[str, Pacer] = {}

    def pacer(self, action: str) -> Pacer:
        with self._lock:
            pacer = self._pacers.get(action)
            if pacer is None:
                pacer = Pacer(
                    self.rate,
                    adaptive=self.adaptive,
                    concurrency=self.concurrency,
                    max_concurrency=self.max_concurrency,
                    clock=self._clock,
                    sleep=self._sleep,
                )
                self._pacers[action] = pacer
            return pacer

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        with self._lock:
            pacers = dict(self._pacers)
        return {action: pacer.summary() for action, pacer in sorted(pacers.items())}
