"""The pacer wired into EcrClient, against the emulator: every throttle ECR answers reaches the pacer, is
retried through it, and cuts its rate. Only what does not depend on timing is asserted here.

How well the pacer finds a limit it is not told (calls throttled, time next to N / limit) depends on how
fast the machine sends, so it is asserted on a simulated clock (tests/live/test_ratelimit.py, over many
seeds) and measured on real runs by `benchmarks/pacing.py`: a timing or throttle-count assert against the
real emulator fails on a busy machine, not on a bad pacer.
"""

from __future__ import annotations

import pytest

from reconciler.desired.model import PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.live.ratelimit import START_RATE
from reconciler.sandbox.ecr import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, EcrEmulator

pytestmark = pytest.mark.slow


def registry() -> Registry:
    return Registry(
        name="main",
        account_id=DEFAULT_ACCOUNT_ID,
        region=DEFAULT_REGION,
        pull_access=PullAccess(accounts=("111122223333",)),
    )


def test_every_throttle_reaches_the_pacer_and_is_retried_through_it(aws_env: EcrEmulator) -> None:
    names = [f"app-{i:03d}" for i in range(100)]
    for name in names:
        aws_env.create_repository(name)
    # One call in twenty throttled whatever the rate (the emulator's dice, seeded): throttles happen
    # however fast or slow this machine sends.
    aws_env.configure(seed=7, latency_ms=5.0)
    aws_env.throttle_storm(0.05, seconds=600, actions={"GetRepositoryPolicy"})
    try:
        client = EcrClient(registry())  # defaults: adaptive, no limit told
        results = client.read_policies(names)
    finally:
        aws_env.reset_knobs()
    assert all(r.error is None for r in results)  # every throttled call was retried until it went through
    stats = aws_env.stats()
    sent = stats["requests"]["GetRepositoryPolicy"]
    throttled = stats["throttled"].get("GetRepositoryPolicy", 0)
    assert throttled > 0 and sent == len(names) + throttled
    pacing = client.pacing()["GetRepositoryPolicy"]
    assert pacing["throttled"] == throttled  # the pacer heard of every one
    assert client.calls()["GetRepositoryPolicy"] == sent  # and paced every attempt, retries included
    assert isinstance(pacing["cuts"], int) and pacing["cuts"] >= 1
    assert pacing["rate"] is not None and pacing["rate"] < START_RATE  # and the rate came down
