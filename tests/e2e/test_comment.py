"""The sticky PR comment: one per key, edited in place, merged across matrix plans, loud on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_registry import run_cli

from reconciler.live.clock import SimulatedClock
from reconciler.sandbox.github import GithubApi

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")


@pytest.fixture
def pr_env(github: GithubApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GithubApi:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 7, "pull_request": {"number": 7}}))
    for name, value in github.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ecr-policies")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    return github


def make_plan(world: World, capsys: pytest.CaptureFixture[str], name: str = "plan.json") -> str:
    out = world.tmp / name
    run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST)
    return str(out)


def test_one_comment_per_pull_request_edited_on_the_next_push(
    world: World, pr_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    pr_env.add_comment("acme", "ecr-policies", 7, "LGTM from a human")
    plan = make_plan(world, capsys)
    code, _, err = run_cli(capsys, "comment", "--plan", plan)
    assert code == 0, err
    comments = pr_env.comments("acme", "ecr-policies", 7)
    assert len(comments) == 2
    assert "to create" in comments[1]["body"] and "<!-- ecr-policy-reconciler:plan -->" in comments[1]["body"]
    # Next push: the plan changed; the same comment is edited, none added.
    run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(world.tmp / "r.jsonl"), *FAST)
    code, _, _ = run_cli(capsys, "comment", "--plan", make_plan(world, capsys, "plan2.json"))
    assert code == 0
    comments = pr_env.comments("acme", "ecr-policies", 7)
    assert len(comments) == 2
    assert "0 to create, 0 to update" in comments[1]["body"]
    assert comments[0]["body"] == "LGTM from a human"
    assert "0 to create" in (world.tmp.parent / world.tmp.name / "summary.md").read_text()


def test_plans_of_a_matrix_merge_into_one_comment(
    world: World, pr_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_plan(world, capsys, "a.json")
    second_dir = world.tmp / "other"
    second_dir.mkdir()
    text = (world.policies / "main.yaml").read_text().replace("name: main", "name: second")
    text = text.replace("us-east-1", "eu-west-1")
    (second_dir / "second.yaml").write_text(text)
    second = world.tmp / "b.json"
    run_cli(capsys, "plan", "--policies", str(second_dir), "--out", str(second), *FAST)
    code, _, err = run_cli(capsys, "comment", "--plan", first, "--plan", str(second))
    assert code == 0, err
    (comment,) = pr_env.comments("acme", "ecr-policies", 7)
    assert "| main |" in comment["body"] and "| second |" in comment["body"]


def test_a_failing_github_api_fails_loudly_and_the_plan_stays_in_the_job_summary(
    world: World,
    pr_env: GithubApi,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("reconciler.live.http.DEFAULT_CLOCK", SimulatedClock())  # no real waits
    plan = make_plan(world, capsys)
    pr_env.fail_next(500, None)
    code, _, err = run_cli(capsys, "comment", "--plan", plan)
    assert code == 1
    assert "could not post the comment on #7" in err and "job summary" in err
    assert "to create" in (tmp_path / "summary.md").read_text()


def test_transient_github_errors_are_retried(
    world: World, pr_env: GithubApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.live.http.DEFAULT_CLOCK", SimulatedClock())  # no real waits
    plan = make_plan(world, capsys)
    pr_env.fail_next(502, 2)
    code, _, err = run_cli(capsys, "comment", "--plan", plan)
    assert code == 0, err
    assert len(pr_env.comments("acme", "ecr-policies", 7)) == 1


def test_apply_result_is_commented_on_the_merged_pull_request(
    world: World, pr_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    report = world.tmp / "r.jsonl"
    run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(report), *FAST)
    pr_env.merge_commit("acme", "ecr-policies", "abc123", 42)
    code, _, err = run_cli(capsys, "comment", "--report", str(report), "--key", "apply", "--commit", "abc123")
    assert code == 0, err
    (comment,) = pr_env.comments("acme", "ecr-policies", 42)
    # 8 drifted or missing team repositories, 2 foreign-carrying, payments, and the provider config.
    assert "| main | 12 | 0 | 0 |" in comment["body"]


def test_the_comment_names_the_planned_commit_links_the_run_and_warns_of_losses(
    world: World,
    pr_env: GithubApi,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_cli(capsys, "apply", "--policies", str(world.policies), "--report", str(world.tmp / "r.jsonl"), *FAST)
    policies = world.policies / "main.yaml"
    policies.write_text(policies.read_text().replace('"444455556666"]', '"999900001111"]'))
    event = tmp_path / "event.json"
    head = "0123456789abcdef0123456789abcdef01234567"
    event.write_text(json.dumps({"number": 7, "pull_request": {"number": 7, "head": {"sha": head}}}))
    monkeypatch.setenv("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    code, _, err = run_cli(capsys, "comment", "--plan", make_plan(world, capsys))
    assert code == 0, err
    (comment,) = pr_env.comments("acme", "ecr-policies", 7)
    body = comment["body"]
    assert "Planned commit `0123456` (the pull request's head" in body
    assert "[workflow run 4242](https://github.example/acme/ecr-policies/actions/runs/4242)" in body
    alert = body.index("> [!WARNING]")
    loss = body.index(
        "> - account `444455556666` may lose pull (can't tell without `organization:`) on 14 repositories "
        "and on new repositories"
    )
    assert alert < loss < body.index("account `999900001111` gains pull") < body.index("| Registry |")
    # Outside a pull request event: GITHUB_SHA is the commit planned.
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    code, _, _ = run_cli(capsys, "comment", "--plan", make_plan(world, capsys, "p2.json"), "--no-post")
    assert code == 0
    assert "Planned commit `fedcba9` in [workflow run 4242]" in (tmp_path / "summary.md").read_text()


def test_the_comment_names_its_base_and_says_when_the_pull_request_changes_how_it_is_planned(
    world: World, pr_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = make_plan(world, capsys)
    base = "0123456789abcdef0123456789abcdef01234567"
    code, _, err = run_cli(
        capsys,
        "comment",
        "--plan",
        plan,
        "--base-commit",
        base,
        "--plan-code-changed",
        "reconciler/",
        "--plan-code-changed",
        ".github/workflows/",
    )
    assert code == 0, err
    (comment,) = pr_env.comments("acme", "ecr-policies", 7)
    body = comment["body"]
    assert "Planned against base commit `0123456`" in body
    notice = body.index(
        "This pull request changes how the plan is made** (`reconciler/`, `.github/workflows/`)"
    )
    assert notice < body.index("Planned against") < body.index("| Registry |")  # above the plan
    # Without a change to those paths, no notice; a base that is not a commit id is refused.
    code, _, _ = run_cli(capsys, "comment", "--plan", plan, "--base-commit", base)
    (comment,) = pr_env.comments("acme", "ecr-policies", 7)
    assert code == 0 and "changes how the plan is made" not in comment["body"]
    code, _, err = run_cli(capsys, "comment", "--plan", plan, "--base-commit", "main; rm -rf /")
    assert code == 1 and "is not a commit id" in err
