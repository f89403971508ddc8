"""Runs longer than an AWS session (issue #30): GitHub OIDC credentials refreshed ahead of expiry, and one
clean stop when credentials expire anyway (nothing to refresh from, or a refresh that fails).

Not timing-dependent: the stop without refresh is driven by call count (the sandbox ends a session after
N calls signed with it). Where the clock must drive expiry (refreshing is decided on the clock), the
lifetime is generous next to the delays that matter: a call is signed at most one emulated latency
(150 ms, the pacer's wait for a place) before the sandbox checks it, against a mandatory margin of a sixth
of the lifetime (1 s); a slower machine makes the apply last more lifetimes, which proves the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sample_registry import OLD, run_cli

from reconciler.live import credentials, stop
from reconciler.plan.model import Plan
from reconciler.plan.planfile import read_plan

from .conftest import World

ROLE = "arn:aws:iam::123456789012:role/github-actions"
BULK = 120
CONCURRENCY = 2
SLOW = ("--no-progress", "--concurrency", str(CONCURRENCY), "--max-rps", "1000")
EXPIRED = "AWS credentials expired at "


@pytest.fixture(autouse=True)
def _fresh_run_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # One credentials object per process and environment; each test starts without a cached session.
    monkeypatch.setattr(credentials, "_cached", None)
    stop.reset()
    yield
    stop.reset()  # a stop tripped here must not stop the next test's calls


def bulk(world: World, count: int = BULK) -> list[str]:
    names = [f"bulk-{i:03d}/app" for i in range(count)]
    for name in names:
        world.ecr.create_repository(name, policy_text=OLD)
    return names


def apply(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *extra)


def clean_plan(world: World, capsys: pytest.CaptureFixture[str]) -> Plan:
    out = world.tmp / "plan.json"
    code, _, err = run_cli(
        capsys, "plan", "--policies", str(world.policies), "--out", str(out), "--detailed-exitcode", *SLOW
    )
    assert code == 0, err
    return read_plan(out)


def in_actions(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in world.ecr.actions_environment(ROLE).items():
        monkeypatch.setenv(name, value)


def test_an_apply_lasting_several_sessions_refreshes_them_and_converges(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(world)
    in_actions(world, monkeypatch)
    # Exported static keys are there too (as configure-aws-credentials leaves them): OIDC takes precedence.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASTATICKEYSHOULDNOTBEUSED")
    world.ecr.configure(session_lifetime_seconds=6.0, action_latency_ms={"GetRepositoryPolicy": 150})
    code, _, err = apply(world, capsys, *SLOW)
    assert code == 0, err
    sessions = world.ecr.stats()["sessions"]
    # ~130 reads at 150 ms, two at a time: about 10 s, well over one 6 s session; refreshed, never refused.
    assert sessions["web_identity"] >= 2, sessions
    assert sessions["refused"] == 0, sessions
    world.ecr.configure(action_latency_ms={})
    assert not clean_plan(world, capsys).has_changes


def test_expired_credentials_without_a_way_to_refresh_stop_the_run_once_and_a_rerun_converges(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(world)
    world.ecr.configure(session_calls=40)  # sessions issued from now end after 40 ECR calls signed with them
    # Session credentials exported as configure-aws-credentials does: no expiry time, nothing to refresh.
    for name, value in world.ecr.session_environment(ROLE).items():
        monkeypatch.setenv(name, value)
    code, _, err = apply(world, capsys, *SLOW)
    assert code == 1
    assert err.count(EXPIRED) == 1, err
    assert "run again to continue" in err
    # One error for the run, not one per repository (and where the report of the writes made so far is).
    lines = [line for line in err.strip().splitlines() if not line.startswith("Apply stopped early.")]
    assert len(lines) == 1, err
    stats = world.ecr.stats()
    # At most the calls already in flight were refused: a read and a write per worker, and the listing.
    assert 1 <= stats["sessions"]["refused"] <= 2 * CONCURRENCY + 1, stats
    assert stats["total_requests"] <= 40 + 2 * CONCURRENCY + 1, stats
    # A fresh session: the rerun brings the rest in line.
    world.ecr.configure(session_calls=None)
    for name, value in world.ecr.session_environment(ROLE).items():
        monkeypatch.setenv(name, value)
    stop.reset()
    code, _, err = apply(world, capsys, *SLOW)
    assert code == 0, err
    assert not clean_plan(world, capsys).has_changes


def test_a_refresh_that_fails_mid_run_stops_the_run_cleanly(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk(world)
    in_actions(world, monkeypatch)
    # One token, then the OIDC endpoint fails: the session cannot be renewed.
    world.ecr.configure(
        session_lifetime_seconds=6.0, oidc_tokens=1, action_latency_ms={"GetRepositoryPolicy": 150}
    )
    code, _, err = apply(world, capsys, *SLOW)
    assert code == 1
    assert err.count(EXPIRED) == 1, err
    assert "refreshing them failed" in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("Apply stopped early.")]
    assert len(lines) == 1, err
    stats = world.ecr.stats()
    assert stats["sessions"]["oidc_refused"] >= 1
    # The run stopped before its credentials ran out: nothing was refused as expired.
    assert stats["sessions"]["refused"] == 0, stats
    world.ecr.configure(oidc_tokens=None, action_latency_ms={})
    stop.reset()
    code, _, err = apply(world, capsys, *SLOW)
    assert code == 0, err
    assert not clean_plan(world, capsys).has_changes
