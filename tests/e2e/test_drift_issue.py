"""The drift tracking issue: one issue, found again by its marker and label, edited in place while drift
lasts, commented and closed when a run is clean; loud when GitHub fails; never a secret in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sample_registry import CI_ACCESS_KEY, CI_SECRET, LAMBDA, run_cli

from reconciler.live.clock import SimulatedClock
from reconciler.report.drift_issue import LABEL, MARKER
from reconciler.report.github import GitHubClient
from reconciler.sandbox.github import GithubApi

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
OWNER, REPO = "acme", "ecr-policies"
ROUTE_LIST = "GET /repos/{owner}/{repo}/issues"
ROUTE_CREATE = "POST /repos/{owner}/{repo}/issues"
ROUTE_EDIT = "PATCH /repos/{owner}/{repo}/issues/{number}"


@pytest.fixture
def gh_env(github: GithubApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GithubApi:
    for name, value in github.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_REPOSITORY", f"{OWNER}/{REPO}")
    monkeypatch.setenv("GITHUB_RUN_ID", "1001")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output.txt"))
    monkeypatch.setattr("reconciler.live.http.DEFAULT_CLOCK", SimulatedClock())  # no real waits
    return github


def plan_file(world: World, capsys: pytest.CaptureFixture[str], name: str = "plan.json") -> str:
    out = world.tmp / name
    code, _, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--out", str(out), *FAST)
    assert code == 0, err
    return str(out)


def converge(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    report = str(world.tmp / "apply.jsonl")
    code, _, err = run_cli(capsys, "apply", "--policies", str(world.policies), "--report", report, *FAST)
    assert code == 0, err


def hand_edit(world: World, name: str = "team-03/app") -> None:
    """Someone replaces a repository's policy by hand: only Lambda's statement is left."""
    world.ecr.put_policy(name, json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))


def drift_issue(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "drift-issue", *args)


def test_drift_opens_one_issue_then_edits_it_then_closes_it_when_clean(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    github = gh_env
    github.add_pull_request(OWNER, REPO, 7)  # the issues listing also returns pull requests
    github.add_issue(OWNER, REPO, "someone's own issue", "mentions drift", labels=(LABEL,))  # no marker
    converge(world, capsys)
    hand_edit(world)

    # First drifted run: one issue, labelled, with the plan and how to fix it.
    code, out, err = drift_issue(capsys, "--plan", plan_file(world, capsys))
    assert code == 2, err
    ours = [i for i in github.issues(OWNER, REPO) if MARKER in i["body"]]
    (issue,) = ours
    assert [label["name"] for label in issue["labels"]] == [LABEL] and issue["state"] == "open"
    body = issue["body"]
    assert "team-03/app" in body and "1 to update" in body
    assert "| First seen |" in body and "actions/runs/1001" in body and "| Last seen |" in body
    # Re-applying gives account 111122223333 and the OU path back on that repository: gains, no loss.
    assert "account `111122223333` gains pull on 1 repository" in body
    assert "[!WARNING]" not in body
    assert "backfill" in body and "pull request" in body
    assert "Self-heal" in body and "DRIFT_SELF_HEAL=true" in body
    assert f"#{issue['number']}" in out
    summary = Path(world.tmp / "summary.md").read_text()
    assert "team-03/app" in summary and f"Tracked in #{issue['number']}" in summary
    assert f"issue={issue['number']}" in Path(world.tmp / "output.txt").read_text()
    first_seen = re.search(r"\| First seen \| (.*) \|", body)
    assert first_seen

    # Second drifted run, a day later, more drift: the same issue is edited; no new one.
    monkeypatch.setenv("GITHUB_RUN_ID", "1002")
    hand_edit(world, "team-06/app")
    github.reset_stats()
    code, _, err = drift_issue(capsys, "--plan", plan_file(world, capsys, "plan2.json"))
    assert code == 2, err
    (edited,) = [i for i in github.issues(OWNER, REPO) if MARKER in i["body"]]
    assert edited["number"] == issue["number"]
    assert "team-06/app" in edited["body"] and "2 to update" in edited["body"]
    assert f"| First seen | {first_seen.group(1)} |" in edited["body"]  # kept from the first run
    assert "actions/runs/1002" in edited["body"]
    assert github.stats()["requests"].get(ROUTE_CREATE, 0) == 0
    assert github.stats()["requests"][ROUTE_EDIT] == 1

    # Fixed; a clean run comments "resolved" and closes it.
    converge(world, capsys)
    code, out, err = drift_issue(capsys, "--plan", plan_file(world, capsys, "plan3.json"))
    assert code == 0, err
    closed = next(i for i in github.issues(OWNER, REPO) if i["number"] == issue["number"])
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    (comment,) = github.comments(OWNER, REPO, issue["number"])
    assert comment["body"].startswith("✅ Resolved") and first_seen.group(1) in comment["body"]
    assert f"closed #{issue['number']}" in out
    # The other labelled issue, without our marker, was never touched.
    other = next(i for i in github.issues(OWNER, REPO) if i["title"] == "someone's own issue")
    assert other["state"] == "open" and github.comments(OWNER, REPO, other["number"]) == []

    # Another clean run: nothing to close, nothing written.
    github.reset_stats()
    code, out, _ = drift_issue(capsys, "--plan", plan_file(world, capsys, "plan4.json"))
    assert code == 0 and "no open drift issue" in out
    assert set(github.stats()["requests"]) == {ROUTE_LIST}

    # Drift comes back: a new issue (the closed one stays closed), still only one open.
    hand_edit(world)
    code, _, _ = drift_issue(capsys, "--plan", plan_file(world, capsys, "plan5.json"))
    assert code == 2
    open_ours = [i for i in github.issues(OWNER, REPO, state="open") if MARKER in i["body"]]
    assert len(open_ours) == 1 and open_ours[0]["number"] != issue["number"]


def test_a_lost_grant_is_a_warning_up_front(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone granted an extra account by hand on one repository: re-applying would take it away."""
    converge(world, capsys)
    document = json.loads(world.ecr.stored_policy("team-00/app") or "{}")
    for statement in document["Statement"]:
        if statement["Sid"] == "AllowPullAccounts":
            values = statement["Condition"]["StringEquals"]["aws:PrincipalAccount"]
            statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] = [*values, "999900001111"]
    world.ecr.put_policy("team-00/app", json.dumps(document))
    code, _, _ = drift_issue(capsys, "--plan", plan_file(world, capsys))
    assert code == 2
    (issue,) = gh_env.issues(OWNER, REPO)
    body = issue["body"]
    warning = body.index("> [!WARNING]")
    assert (
        "> - account `999900001111` may lose pull (can't tell without `organization:`) on 1 repository"
        in body
    )
    assert body.index("| Last seen |") < warning < body.index("| Registry |") < body.index("### How to fix")


def test_a_failing_github_call_fails_loudly_and_the_plan_stays_in_the_job_summary(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hand_edit(world)
    plan = plan_file(world, capsys)
    gh_env.fail_next(500, None, routes=[ROUTE_CREATE])
    code, _, err = drift_issue(capsys, "--plan", plan)
    assert code == 1
    assert "could not update the drift issue" in err and "the plan is in the job summary" in err
    assert "HTTP 500" in err
    assert "team-03/app" in (tmp_path / "summary.md").read_text()
    assert gh_env.issues(OWNER, REPO) == []
    # Issues turned off for the repository: GitHub's own reason is in the error.
    gh_env.reset()
    gh_env.issues_enabled = False
    code, _, err = drift_issue(capsys, "--plan", plan)
    assert code == 1 and "HTTP 410 (Issues are disabled for this repo)" in err


def test_the_issue_is_found_across_pages_and_duplicates_are_closed(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str]
) -> None:
    """More than a page (100) of labelled issues: ours is still found; two of ours (a race, a copy by
    hand) become one: the oldest is kept, the other closed as a duplicate."""
    github = gh_env
    for index in range(120):
        github.add_issue(OWNER, REPO, f"noise {index}", labels=(LABEL,))
    github.add_issue(OWNER, REPO, "drift", f"{MARKER}\nold body", labels=(LABEL,))
    github.add_issue(OWNER, REPO, "drift again", f"{MARKER}\ncopy", labels=(LABEL,))
    hand_edit(world)
    code, _, _ = drift_issue(capsys, "--plan", plan_file(world, capsys))
    assert code == 2
    assert github.stats()["requests"][ROUTE_LIST] == 2  # two pages of 100
    ours = [i for i in github.issues(OWNER, REPO) if MARKER in i["body"]]
    kept, duplicate = ours
    assert kept["state"] == "open" and "team-03/app" in kept["body"]
    assert duplicate["state"] == "closed" and duplicate["state_reason"] == "not_planned"
    assert f"Duplicate of #{kept['number']}" in github.comments(OWNER, REPO, duplicate["number"])[0]["body"]
    assert github.stats()["requests"].get(ROUTE_CREATE, 0) == 0


def test_run_errors_and_the_verdict(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only repositories out of line is healable; a provider config drift, a plan error or a failure
    outside the plans (validation, a principal check) is not, and says why."""
    hand_edit(world)
    drifted = plan_file(world, capsys)  # the provider config still has the old policy too
    code, out, err = drift_issue(capsys, "--plan", drifted, "--verdict")
    assert (code, out.strip()) == (0, "drift") and "nullplatform provider config" in err
    converge(world, capsys)
    hand_edit(world)
    only_repositories = plan_file(world, capsys, "repos.json")
    code, out, _ = drift_issue(capsys, "--plan", only_repositories, "--verdict")
    assert out.strip() == "healable"
    assert "verdict=healable" in (tmp_path / "output.txt").read_text()
    failed = "ou-ab12-cdef3456 is not in organization o-a1b2c3d4e5"
    code, out, _ = drift_issue(capsys, "--plan", only_repositories, "--error", failed, "--verdict")
    assert out.strip() == "drift"
    code, out, _ = drift_issue(capsys, "--error", "policies/ did not pass validation", "--verdict")
    assert out.strip() == "drift"
    assert gh_env.stats()["total_requests"] == 0  # deciding touches no issue

    # With self-heal on, the issue says why it did not run; the errors are listed.
    code, _, _ = drift_issue(capsys, "--plan", only_repositories, "--error", failed, "--self-heal")
    assert code == 2
    (issue,) = gh_env.issues(OWNER, REPO)
    assert "On, but it did not run" in issue["body"] and failed in issue["body"]
    assert "### Errors in this run" in issue["body"]


def test_no_secret_in_the_issue_or_the_comment(
    world: World, gh_env: GithubApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As tests/reliability/test_secrets.py checks the plan comment: every body sent to GitHub."""
    secrets = {
        "NULLPLATFORM_API_KEY": "np-api-key-must-not-leak-41b7e2",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-key-must-not-leak-9d0c55",
        "AWS_SESSION_TOKEN": "aws-session-token-must-not-leak-6a2f10",
    }
    monkeypatch.setattr(world.nullplatform, "api_keys", {secrets["NULLPLATFORM_API_KEY"]})
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    world.nullplatform.configure(mask_secrets=True)
    sent: list[str] = []
    create, update = GitHubClient.create_issue, GitHubClient.update_issue
    comment = GitHubClient.create_comment

    def recording_create(
        self: GitHubClient, title: str, body: str, labels: tuple[str, ...] = (), **options: str | None
    ) -> object:
        sent.extend([title, body])
        return create(self, title, body, labels, **options)

    def recording_update(self: GitHubClient, number: int, **fields: str | None) -> object:
        sent.extend(v for v in fields.values() if v)
        return update(self, number, **fields)  # type: ignore[arg-type]

    def recording_comment(self: GitHubClient, number: int, body: str) -> int:
        sent.append(body)
        return comment(self, number, body)

    monkeypatch.setattr(GitHubClient, "create_issue", recording_create)
    monkeypatch.setattr(GitHubClient, "update_issue", recording_update)
    monkeypatch.setattr(GitHubClient, "create_comment", recording_comment)
    world.ecr.configure(access_denied={"team-01/app"})  # an error message in the body too
    hand_edit(world)
    plan = str(world.tmp / "plan.json")
    run_cli(capsys, "plan", "--policies", str(world.policies), "--out", plan, *FAST)
    assert drift_issue(capsys, "--plan", plan, "--self-heal")[0] == 2
    world.ecr.configure(access_denied=set())
    converge(world, capsys)
    assert drift_issue(capsys, "--plan", plan_file(world, capsys, "clean.json"))[0] == 0
    (issue,) = gh_env.issues(OWNER, REPO)
    assert issue["state"] == "closed" and "AccessDenied" in issue["body"]
    texts = [*sent, issue["body"], *(c["body"] for c in gh_env.comments(OWNER, REPO, issue["number"]))]
    assert len(sent) >= 4
    for secret in [*secrets.values(), gh_env.token, CI_SECRET, CI_ACCESS_KEY]:
        for text in texts:
            assert secret not in text
