"""The `comment` and `drift-issue` commands against a GitHub that rate-limits writes, as GitHub does: they
wait as told and succeed, or stop with a message naming the limit. Waits go through a simulated clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_registry import run_cli

from reconciler.live.clock import SimulatedClock
from reconciler.report.github import MAX_WAIT_ENV
from reconciler.sandbox.github import GithubApi

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
OWNER, REPO = "acme", "ecr-policies"
MARKER = "<!-- ecr-policy-reconciler:plan -->"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimulatedClock:
    clock = SimulatedClock()
    monkeypatch.setattr("reconciler.live.http.DEFAULT_CLOCK", clock)
    return clock


@pytest.fixture
def pr_env(github: GithubApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GithubApi:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {"number": 7}}), encoding="utf-8")
    for name, value in github.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_REPOSITORY", f"{OWNER}/{REPO}")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_RUN_ID", "1001")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output.txt"))
    return github


def plan(world: World, capsys: pytest.CaptureFixture[str], name: str) -> str:
    out = world.tmp / name
    code, _, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST)
    assert code == 0, err
    return str(out)


def test_the_comment_edit_refused_by_the_secondary_limit_waits_and_succeeds(
    world: World, pr_env: GithubApi, clock: SimulatedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every second write answered 403 "You have exceeded a secondary rate limit", retry-after: 1.
    pr_env.secondary_limit(every=2, retry_after=1)
    saved = plan(world, capsys, "plan.json")
    assert run_cli(capsys, "comment", "--plan", saved)[0] == 0
    code, _, err = run_cli(capsys, "comment", "--plan", saved)  # the next push: the edit is refused once
    assert code == 0, err
    (comment,) = pr_env.comments(OWNER, REPO, 7)
    assert MARKER in comment["body"]
    assert pr_env.stats()["statuses"]["403"] == 1
    assert 1.0 in clock.sleeps


def test_a_rate_limit_past_the_bound_fails_the_comment_with_the_limit_and_its_reset(
    world: World,
    pr_env: GithubApi,
    clock: SimulatedClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MAX_WAIT_ENV, "120")
    saved = plan(world, capsys, "plan.json")
    pr_env.limit_next(5, primary=True, reset_at=int(clock.time()) + 1800)
    code, _, err = run_cli(capsys, "comment", "--plan", saved)
    assert code == 1
    assert "could not post the comment on #7" in err and "GitHub's rate limit (1000 requests, core)" in err
    assert "it resets at" in err and f"{MAX_WAIT_ENV} sets that bound" in err and "120s" in err
    assert clock.sleeps == []
    assert pr_env.comments(OWNER, REPO, 7) == []


def test_the_drift_issue_is_opened_once_though_its_post_lost_its_answer(
    world: World, pr_env: GithubApi, clock: SimulatedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = plan(world, capsys, "drift.json")
    pr_env.lose_answer_next(1, routes=["POST /repos/{owner}/{repo}/issues"])
    _, out, err = run_cli(capsys, "drift-issue", "--plan", saved)
    assert "drift tracked in issue #" in out, err
    assert len(pr_env.issues(OWNER, REPO)) == 1
    assert pr_env.stats()["requests"]["POST /repos/{owner}/{repo}/issues"] == 1
