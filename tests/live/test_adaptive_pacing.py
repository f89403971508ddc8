"""Pacing against limits the tool is not told: the emulator throttles GetRepositoryPolicy at a rate the
client never sees (no max_rps given), and its own counters say how many calls were throttled.

Only counts are asserted here; the time these runs take next to N / limit is measured by
`benchmarks/pacing.py` (a timing assert in a test would fail on a busy machine, not on a bad pacer).
For the same reason, that the limit was found (throttled at least once, settled near it) is asserted only
for limits any machine's client can exceed; at 60 and 200 calls/s a busy machine may never reach the
limit, so there only the throttling budget and correctness are asserted. Finding the limit costs a
roughly fixed number of throttled calls (the overshoot before the first throttle comes back: ~25 at 200
calls/s against a bucket that banks a second of calls), so each run is long enough (about 6 s at the
limit) for that cost to be what the budget is about, as it is for a registry big enough to need 200/s.
"""

from __future__ import annotations

import pytest

from reconciler.desired.model import PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator

pytestmark = pytest.mark.slow


def registry() -> Registry:
    return Registry(
        name="main",
        account_id=DEFAULT_ACCOUNT_ID,
        region=DEFAULT_REGION,
        pull_access=PullAccess(accounts=("111122223333",)),
    )


@pytest.mark.parametrize(("limit", "repositories"), [(5, 150), (20, 300), (60, 300), (200, 1200)])
def test_an_unknown_limit_costs_under_3_percent_of_calls_throttled(
    aws_env: EcrEmulator, limit: int, repositories: int
) -> None:
    names = [f"app-{i:04d}" for i in range(repositories)]
    for name in names:
        aws_env.create_repository(name)
    # The emulator's default burst (= the rate) is a full second of calls banked: the limit stays hidden
    # until it is drained, which is what makes finding it cost throttles.
    aws_env.configure(tps={"GetRepositoryPolicy": float(limit)}, latency_ms=5.0)
    client = EcrClient(registry())  # defaults: adaptive, no limit told, concurrency sized to the rate
    results = client.read_policies(names)
    assert all(r.error is None for r in results)  # every throttled call was retried until it went through
    stats = aws_env.stats()
    sent = stats["requests"]["GetRepositoryPolicy"]
    throttled = stats["throttled"].get("GetRepositoryPolicy", 0)
    assert sent == repositories + throttled
    assert throttled / sent < 0.03
    if limit > 20:
        return
    assert throttled > 0  # the limit was found by being throttled, not by never reaching it
    rate = client.pacing()["GetRepositoryPolicy"]["rate"]
    assert rate is not None and 0.6 * limit <= rate <= 1.3 * limit  # settled near the limit, not far under
