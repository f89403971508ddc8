"""A discrete-event simulation of the pacer against a throttling server, on a simulated clock.

What it models is what the sandbox's ECR emulator and botocore do, without threads or wall time:
- the server: one token bucket per action (`limit` calls/s, `burst` tokens, full at the start: the emulator's
  default burst is the rate, a second of calls banked, as AWS's buckets hold a burst), checked when the call
  arrives, `latency` after it is sent (each call's latency drawn log-normal around it with sigma `spread`);
- the client: `workers` threads (EcrClient's pool), each taking its next call when the last one is done,
  every attempt going through the action's `Pacer` (its non-blocking `try_enter`/`slot`/`sent`/`finish`, the
  same methods the blocking `acquire`/`release` use), and a throttled attempt retried as botocore's standard
  mode does: after rand(0, 1) x 2^(attempt - 1) s (at most 20 s), up to `max_attempts` attempts.

Deterministic for a given `seed`, and fast (a few milliseconds a thousand calls), so the pacing can be
checked over many seeds in a test and its figures are exact rather than a loaded machine's.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.live.ratelimit import Pacer, PerActionPacer, Ticket

MAX_BACKOFF = 20.0  # botocore's standard mode


@dataclass(frozen=True)
class Phase:
    """`calls` calls of one action, started when the phase before it is done (pages, then reads)."""

    action: str
    calls: int


@dataclass
class Simulated:
    elapsed: float
    sent: int
    throttled: int
    failed: int  # calls that ran out of attempts
    final_rate: float  # the last phase's pacing rate at the end
    longest_gap: float  # the longest time with no send, after the first send (a stall)
    phase_ends: list[float] = field(default_factory=list)

    @property
    def throttled_share(self) -> float:
        return self.throttled / max(1, self.sent)


def simulate(
    limit: float,
    calls: int | Sequence[Phase],
    *,
    latency: float = 0.02,
    spread: float = 0.0,
    seed: int = 7,
    ceiling: float = 1000.0,
    burst: float | None = None,
    workers: int = 64,
    max_attempts: int = 10,
    pacers: PerActionPacer | None = None,
    connect: float = 0.0,
) -> Simulated:
    """Runs the phases (an int: one phase of GetRepositoryPolicy calls) against a bucket of `limit` calls/s
    per action; simulated seconds in the result. `connect`: extra time on each worker's first call (its
    connection is opened then), so early answers come back late and out of order."""
    phases = [Phase("GetRepositoryPolicy", calls)] if isinstance(calls, int) else list(calls)
    rng = random.Random(seed)
    pacers = pacers or PerActionPacer(ceiling, max_concurrency=workers)
    capacity = limit if burst is None else burst
    buckets: dict[str, list[float]] = {}  # action -> [tokens, updated]
    events: list[tuple[float, int, str, int]] = []
    order = 0

    def push(at: float, kind: str, worker: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, worker))

    sent = throttled = failed = 0
    gap, last_send = 0.0, math.nan
    tickets: dict[int, Ticket] = {}
    attempts: dict[int, int] = {}
    cuts: dict[int, int] = {}
    busy: set[int] = set()
    connected: set[int] = set()
    waiting: list[int] = []
    phase_ends: list[float] = []
    now = 0.0
    for phase in phases:
        pacer: Pacer = pacers.pacer(phase.action)
        bucket = buckets.setdefault(phase.action, [capacity, now])
        left = phase.calls
        for worker in range(workers):
            push(now, "want", worker)
        while events:
            now, _, kind, worker = heapq.heappop(events)
            if kind == "want":
                if worker not in busy:
                    if not left:
                        continue
                    left -= 1
                    busy.add(worker)
                    attempts[worker] = 0
                slot = pacer.try_enter(now)
                if slot is None:
                    waiting.append(worker)
                else:
                    cuts[worker] = pacer.cuts
                    push(slot, "send", worker)
            elif kind == "send":
                if pacer.stale(cuts[worker]):
                    cuts[worker] = pacer.cuts
                    push(pacer.slot(now), "send", worker)
                    continue
                tickets[worker] = pacer.sent(now)
                sent += 1
                if last_send == last_send:  # not NaN
                    gap = max(gap, now - last_send)
                last_send = now
                setup = 0.0 if worker in connected else connect
                connected.add(worker)
                push(now + setup + latency * math.exp(rng.gauss(0.0, spread)), "arrive", worker)
            else:  # the call reaches the server: the bucket decides (the answer is back at once after it)
                tokens = min(capacity, bucket[0] + (now - bucket[1]) * limit)
                admitted = tokens >= 1.0
                bucket[0], bucket[1] = tokens - (1.0 if admitted else 0.0), now
                pacer.finish(tickets.pop(worker), now, throttled=not admitted)
                for waiter in waiting:
                    push(now, "want", waiter)
                waiting.clear()
                attempts[worker] += 1
                if admitted or attempts[worker] >= max_attempts:
                    failed += not admitted
                    busy.discard(worker)
                    push(now, "want", worker)
                else:
                    throttled += 1
                    backoff = min(rng.random() * 2.0 ** (attempts[worker] - 1), MAX_BACKOFF)
                    push(now + backoff, "want", worker)
        phase_ends.append(now)
    last = pacers.pacer(phases[-1].action)
    return Simulated(now, sent, throttled, failed, last.rate or 0.0, gap, phase_ends)
