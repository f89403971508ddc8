"""Each workflow's steps played in order against the sandbox and the GitHub API double.

What a user relies on: a PR gets one plan comment (edited on the next push, none for forks), merging
applies and comments the result, backfill honours dry_run and its globs, drift fails on a hand edit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sample_registry import LAMBDA, OLD, stored

from reconciler.sandbox.github import GithubApi

from .conftest import World
from .workflow_runner import JobResult, Runner, machine_env

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
OWNER, REPO = "acme", "ecr-policies"
PLAN_ROLE = "arn:aws:iam::123456789012:role/plan"
APPLY_ROLE = "arn:aws:iam::123456789012:role/apply"


MakeRunner = Callable[..., Runner]


@pytest.fixture
def runner(world: World, github: GithubApi, runtime_venv: Path) -> MakeRunner:
    """Runners for the user's repository: its policies/ (the world's), our workflows and install action;
    the reconciler comes from the runtime install, as on GitHub."""

    def make(event_name: str, event: dict, **kwargs: object) -> Runner:
        if event_name == "pull_request":
            kwargs.setdefault("changed_files", ("policies/main.yaml",))
        env = machine_env(
            world.ecr.environment()
            | {"NULLPLATFORM_HOST": world.nullplatform.url, "GITHUB_API_URL": github.url}
        )
        return Runner(
            source=world.policies.parent,
            workspace=world.tmp / f"run-{event_name}-{len(list(world.tmp.glob('run-*')))}",
            event_name=event_name,
            event=event,
            env=env,
            secrets={
                "NULLPLATFORM_PLAN_API_KEY": world.nullplatform.api_key,
                "NULLPLATFORM_APPLY_API_KEY": world.nullplatform.api_key,
            },
            variables={"AWS_PLAN_ROLE_ARN": PLAN_ROLE, "AWS_APPLY_ROLE_ARN": APPLY_ROLE},
            repository=f"{OWNER}/{REPO}",
            token=github.token,
            project=ROOT,
            python_bin=runtime_venv,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


def pr_event(number: int = 7, fork: bool = False) -> dict:
    head = "someone/ecr-policies" if fork else f"{OWNER}/{REPO}"
    return {"number": number, "pull_request": {"number": number, "head": {"repo": {"full_name": head}}}}


def ok(results: dict[str, JobResult], *jobs: str) -> None:
    for job in jobs:
        assert results[job].result == "success", f"{job}: {results[job].output()}"


def test_pull_request_gets_one_plan_comment_edited_on_the_next_push(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan", "comment")
    assert results["plan"].assumed_roles == [PLAN_ROLE]
    assert "to create" in results["plan"].summary  # the plan is in the job summary too
    (comment,) = github.comments(OWNER, REPO, 7)
    assert "Plan: " in comment["body"] and "| main |" in comment["body"]
    # The author pushes a change: the same comment is edited.
    policies = world.policies / "main.yaml"
    policies.write_text(policies.read_text().replace('"444455556666"]', '"444455556666", "555566667777"]'))
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan", "comment")
    (edited,) = github.comments(OWNER, REPO, 7)
    assert edited["id"] == comment["id"] and "555566667777" in edited["body"]
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0  # planning never writes


def test_fork_pull_request_is_validated_but_never_planned(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    results = runner("pull_request", pr_event(fork=True)).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan-result")  # the required checks pass: nothing to plan
    assert "Nothing to plan: a pull request from a fork" in results["plan-result"].output()
    assert results["plan"].result == "skipped" and results["comment"].result == "skipped"
    assert github.comments(OWNER, REPO, 7) == []
    assert world.ecr.stats()["requests"] == {}


def test_invalid_policies_fail_validation_with_annotations(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    (world.policies / "main.yaml").write_text("registry:\n  name: main\n  account_id: 123456789012\n")
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")
    assert results["validate"].result == "failure"
    assert "::error file=policies/main.yaml,line=3" in results["validate"].output()
    assert results["plan"].result == "skipped"
    assert results["plan-result"].result == "failure"  # never "nothing to plan" when validation failed


def required_checks() -> list[str]:
    """The checks README's set-up section tells people to require on `main`."""
    readme = (ROOT / "README.md").read_text()
    clause = re.search(r"require the status\s+checks (.*?), and no force pushes", readme, re.S)
    assert clause, "README names the required checks"
    return [name for name in re.findall(r"`([^`]+)`", clause.group(1)) if not name.endswith(".yml")]


def test_readme_only_pull_request_reports_every_required_check(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A required check from a workflow or job that did not run waits forever and blocks the merge."""
    checks = required_checks()
    assert {"validate", "plan-result", "test"} <= set(checks)
    results = runner("pull_request", pr_event(), changed_files=("README.md",)).run(WORKFLOWS / "plan.yml")
    for check in checks:
        homes = [w for w in WORKFLOWS.glob("*.yml") if check in yaml.safe_load(w.read_text())["jobs"]]
        assert len(homes) == 1, f"{check}: one job of that name in one workflow, found {homes}"
        spec = yaml.safe_load(homes[0].read_text())
        job = spec["jobs"][check]
        assert "matrix" not in job.get("strategy", {}), f"{check}: a matrix job's checks are named per entry"
        on = spec[True]  # YAML 1.1 reads the key `on` as True
        assert "pull_request" in on and not set(on["pull_request"] or {}) & {"paths", "paths-ignore"}
        if homes[0].name == "plan.yml":
            ok(results, check)
        else:  # ci.yml's test is this repository's own suite: it must run on every pull request
            assert "if" not in job and "needs" not in job
    assert results["plan"].result == "skipped" and results["comment"].result == "skipped"
    assert "Nothing to plan: no change to policies/" in results["plan-result"].output()
    assert world.ecr.stats()["requests"] == {} and github.comments(OWNER, REPO, 7) == []


def test_plan_failure_in_one_registry_fails_the_result(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """Two registries; the second has no nullplatform provider config, so its plan fails."""
    (world.policies / "west.yaml").write_text(
        'registry:\n  name: west\n  account_id: "123456789012"\n  region: us-west-2\n'
        'nullplatform:\n  nrn: "organization=1:account=9"\n'
        'pull_access:\n  accounts: ["111122223333"]\n'
    )
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "comment")  # main's plan is still commented
    assert results["plan"].result == "failure"
    assert "no nullplatform ECR provider config at organization=1:account=9" in results["plan"].summary
    assert results["plan-result"].result == "failure"
    assert "the plan of at least one registry did not succeed" in results["plan-result"].output()
    (comment,) = github.comments(OWNER, REPO, 7)
    assert "| main |" in comment["body"]


def test_merge_applies_and_comments_the_result_on_the_pull_request(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    sha = "f" * 40
    github.merge_commit(OWNER, REPO, sha, 7)
    results = runner("push", {"ref": "refs/heads/main"}, sha=sha).run(WORKFLOWS / "apply.yml")
    ok(results, "registries", "apply", "comment")
    assert results["apply"].assumed_roles == [APPLY_ROLE]
    (comment,) = github.comments(OWNER, REPO, 7)
    assert "ECR policy apply" in comment["body"] and "| main | 12 | 0 | 0 |" in comment["body"]
    assert stored(world.ecr, "team-foreign/old")["Statement"][0] == LAMBDA
    drift = runner("workflow_dispatch", {}).run(WORKFLOWS / "drift.yml")
    ok(drift, "drift")  # converged: nothing drifted


def test_backfill_dry_run_changes_nothing_then_converges_only_the_chosen(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    before = {name: world.ecr.stored_policy(name) for name in world.seeded}
    inputs = {
        "repositories": "team-0[0-4]/* team-foreign/*",
        "registry": "",
        "dry_run": True,
        "max_changes": "100",
    }
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    ok(results, "backfill")
    assert "Dry run: 5 would be applied" in results["backfill"].output()
    assert {name: world.ecr.stored_policy(name) for name in world.seeded} == before

    inputs["dry_run"] = False
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    ok(results, "backfill")
    assert "Apply: 5 applied" in results["backfill"].output()
    assert stored(world.ecr, "team-01/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"
    assert world.ecr.stored_policy("team-05/app") == before["team-05/app"]  # not chosen
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_backfill_max_changes_refuses(world: World, github: GithubApi, runner: MakeRunner) -> None:
    inputs = {"repositories": "", "registry": "main", "dry_run": False, "max_changes": "3"}
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    assert results["backfill"].result == "failure"
    assert "more than --max-changes 3" in results["backfill"].output()


def test_drift_fails_when_someone_changes_a_policy_by_hand(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "apply")
    world.ecr.put_policy("team-03/app", json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))
    results = runner("schedule", {}).run(WORKFLOWS / "drift.yml")
    assert results["drift"].result == "failure"
    assert "live ECR policies no longer match" in results["drift"].output()
    assert "team-03/app" in results["drift"].summary
