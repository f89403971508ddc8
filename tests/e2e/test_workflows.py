"""Each workflow's steps played in order against the sandbox and the GitHub API double.

What a user relies on: a PR gets one plan comment (edited on the next push, none for forks), merging
applies and comments the result, backfill honours dry_run and its globs, drift keeps one tracking issue
(opened on a hand edit, edited while it lasts, closed when clean) and self-heals only repositories.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sample_registry import LAMBDA, OLD, stored

from reconciler.sandbox.github import GithubApi

from .conftest import World
from .workflow_runner import ConcurrencyGroups, JobResult, Runner, concurrency_group, machine_env

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
OWNER, REPO = "acme", "ecr-policies"
PLAN_ROLE = "arn:aws:iam::123456789012:role/plan"
APPLY_ROLE = "arn:aws:iam::123456789012:role/apply"
COMMIT_A = "0" * 40  # the runners' commit (Runner.sha)
COMMIT_B = "b" * 40  # a later commit of main


def merge(github: GithubApi, sha: str = COMMIT_B, files: tuple[str, ...] = ("policies/main.yaml",)) -> None:
    """A pull request changing `files` merges: main moves from its head to `sha`."""
    head = github.commits.resolve(OWNER, REPO, "main")
    assert head is not None
    github.add_commit(OWNER, REPO, sha, head, files)
    github.set_branch(OWNER, REPO, "main", sha)


MakeRunner = Callable[..., Runner]


@pytest.fixture
def runner(world: World, github: GithubApi, runtime_venv: Path) -> MakeRunner:
    """Runners for the user's repository: its policies/ (the world's), our workflows and install action;
    the reconciler comes from the runtime install, as on GitHub. Main's head is the runners' commit unless
    a test moves it (`merge`)."""
    github.set_branch(OWNER, REPO, "main", COMMIT_A)

    def make(
        event_name: str, event: dict, variables: dict[str, str] | None = None, **kwargs: object
    ) -> Runner:
        if event_name == "pull_request":
            kwargs.setdefault("changed_files", ("policies/main.yaml",))
        env = machine_env(
            world.ecr.environment()
            | {"NULLPLATFORM_HOST": world.nullplatform.url, "GITHUB_API_URL": github.url}
        )
        kwargs.setdefault("source", world.policies.parent)
        return Runner(
            workspace=world.tmp / f"run-{event_name}-{len(list(world.tmp.glob('run-*')))}",
            event_name=event_name,
            event=event,
            env=env,
            secrets={
                "NULLPLATFORM_PLAN_API_KEY": world.nullplatform.api_key,
                "NULLPLATFORM_APPLY_API_KEY": world.nullplatform.api_key,
            },
            variables={"AWS_PLAN_ROLE_ARN": PLAN_ROLE, "AWS_APPLY_ROLE_ARN": APPLY_ROLE} | (variables or {}),
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


def test_fork_pull_request_that_changes_policies_fails_the_result_saying_how_to_get_a_plan(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A convenience, not a control: a fork controls its own copy of plan.yml. The review is the control."""
    results = runner("pull_request", pr_event(fork=True)).run(WORKFLOWS / "plan.yml")
    ok(results, "validate")
    assert results["plan"].result == "skipped" and results["comment"].result == "skipped"
    assert results["plan-result"].result == "failure"
    assert "a pull request from a fork can't be planned" in results["plan-result"].output()
    assert "push the branch to this repository" in results["plan-result"].output()
    assert github.comments(OWNER, REPO, 7) == []
    assert world.ecr.stats()["requests"] == {}


def test_fork_pull_request_that_changes_nothing_a_plan_depends_on_passes(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    results = runner("pull_request", pr_event(fork=True), changed_files=("README.md",)).run(
        WORKFLOWS / "plan.yml"
    )
    ok(results, "validate", "plan-result")
    assert "Nothing to plan: no change to policies/" in results["plan-result"].output()


def test_dependabot_pull_request_is_not_planned_and_the_result_says_why(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """Dependabot's runs get no Actions secrets: rather than a red plan-result on every dependency bump,
    the plan is skipped (docs/SETUP.md says why that is acceptable)."""
    results = runner(
        "pull_request", pr_event(), actor="dependabot[bot]", changed_files=("requirements.txt",)
    ).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan-result")
    assert results["plan"].result == "skipped" and results["comment"].result == "skipped"
    assert (
        "Nothing to plan: a Dependabot pull request gets no Actions secrets"
        in results["plan-result"].output()
    )
    assert world.ecr.stats()["requests"] == {} and github.comments(OWNER, REPO, 7) == []
    # Anyone else's pull request changing the lock is planned.
    results = runner("pull_request", pr_event(), changed_files=("requirements.txt",)).run(
        WORKFLOWS / "plan.yml"
    )
    ok(results, "plan", "comment", "plan-result")


def test_the_comment_names_its_base_and_warns_when_the_pull_request_changes_how_it_is_planned(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    changed = ("policies/main.yaml", "reconciler/cli.py", "requirements.txt", ".github/workflows/ci.yml")
    results = runner("pull_request", pr_event(), changed_files=changed).run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan", "comment", "plan-result")
    base = results["validate"].outputs["base"]
    assert re.fullmatch(r"[0-9a-f]{40}", base)
    (comment,) = github.comments(OWNER, REPO, 7)
    body = comment["body"]
    assert f"Planned against base commit `{base[:7]}`" in body
    notice = "changes how the plan is made** (`.github/workflows/`, `reconciler/`, `requirements*.txt`)"
    assert notice in body and body.index(notice) < body.index("| Registry |")
    # A policies-only change: no notice.
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")
    ok(results, "comment")
    (comment,) = github.comments(OWNER, REPO, 7)
    assert "changes how the plan is made" not in comment["body"]


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
    """The checks the set-up document tells people to require on `main`."""
    readme = (ROOT / "docs" / "SETUP.md").read_text()
    clause = re.search(r"require the status\s+checks (.*?), and no force pushes", readme, re.S)
    assert clause, "docs/SETUP.md names the required checks"
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
    ok(results, "registries", "plan", "production", "comment")
    # The plan: made before the approval, with the read-only role, outside `production`, shown in the
    # summary the approver reads (who gains pull first) and handed to the job that writes it.
    assert results["plan"].assumed_roles == [PLAN_ROLE] and results["plan"].environment == ""
    summary = results["plan"].summary
    assert "Access granted" in summary and summary.index("Access granted") < summary.index("| Registry |")
    assert results["production"].environment == "production"
    assert results["production"].assumed_roles == [APPLY_ROLE]
    assert (
        "--plan"
        in yaml.safe_load((WORKFLOWS / "apply.yml").read_text())["jobs"]["production"]["steps"][-2]["run"]
    )
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
    ok(results, "plan")
    assert results["backfill"].result == "skipped"  # nothing waits for an approval
    assert results["plan"].environment == "" and results["plan"].assumed_roles == [PLAN_ROLE]
    assert "Plan: 1 to create, 4 to update, 0 to delete" in results["plan"].summary  # what an approver sees
    assert "Repositories only: the provider config" in results["plan"].summary  # backfill never writes it
    assert {name: world.ecr.stored_policy(name) for name in world.seeded} == before

    inputs["dry_run"] = False
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    ok(results, "plan", "backfill")
    assert results["plan"].environment == "" and results["plan"].assumed_roles == [PLAN_ROLE]
    assert results["backfill"].environment == "production" and results["backfill"].assumed_roles == [
        APPLY_ROLE
    ]
    assert "is main's head: writing" in results["backfill"].output()
    assert "Apply: 5 applied" in results["backfill"].output()
    assert stored(world.ecr, "team-01/app")["Statement"][0]["Sid"] == "AllowPullOrganizationPaths"
    assert world.ecr.stored_policy("team-05/app") == before["team-05/app"]  # not chosen
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


def test_backfill_max_changes_refuses_before_anyone_is_asked_to_approve(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    inputs = {"repositories": "", "registry": "main", "dry_run": False, "max_changes": "3"}
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    assert results["plan"].result == "failure"
    assert "more than --max-changes 3" in results["plan"].output()
    # The one who dispatched it sees what was refused: the plan is in the job summary all the same.
    assert "more than --max-changes 3" in results["plan"].summary
    assert "Plan: 4 to create, 7 to update" in results["plan"].summary
    assert results["backfill"].result == "skipped"  # no approval asked for, nothing written
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0


def test_backfill_without_a_limit_writes_only_the_chosen_repositories(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """No max_changes: the streamed write of the saved plan. The plan file names its globs, so the rest of
    the registry is not "new since plan" and stays as it is."""
    before = {name: world.ecr.stored_policy(name) for name in world.seeded}
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": ""}
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs).run(WORKFLOWS / "backfill.yml")
    ok(results, "plan", "backfill")
    assert "new since plan" not in results["backfill"].output()
    changed = {name for name in world.seeded if world.ecr.stored_policy(name) != before[name]}
    assert changed == {"team-01/app", "team-02/app", "team-04/app"}
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD


DRIFT_MARKER = "<!-- ecr-policy-reconciler:drift -->"


def drift_issues(github: GithubApi, state: str = "all") -> list[dict]:
    return [i for i in github.issues(OWNER, REPO, state=state) if DRIFT_MARKER in i["body"]]


def hand_edit(world: World, name: str = "team-03/app") -> None:
    world.ecr.put_policy(name, json.dumps({"Version": "2012-10-17", "Statement": [LAMBDA]}))


def test_drift_workflow_opens_edits_and_closes_one_tracking_issue(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    hand_edit(world)
    drift = runner("schedule", {}, run_id=101)
    results = drift.run(WORKFLOWS / "drift.yml")
    ok(results, "registries", "plan")  # planning found drift: that is the drift job's verdict
    assert results["plan"].assumed_roles == [PLAN_ROLE]
    assert results["verdict"].result == "skipped" and results["heal"].result == "skipped"  # self-heal off
    assert results["drift"].result == "failure"
    assert "live ECR policies no longer match" in results["drift"].output()
    assert "team-03/app" in results["plan"].summary and "team-03/app" in results["drift"].summary
    (issue,) = drift_issues(github)
    assert issue["state"] == "open" and "team-03/app" in issue["body"]
    assert "https://github.com/acme/ecr-policies/actions/runs/101" in issue["body"]
    # The access audit: in the plan job's summary, and its JSON as an artifact.
    assert "ECR access audit" in results["plan"].summary
    assert drift.artifacts is not None
    audit = json.loads((drift.artifacts / "access-main" / "access-main.json").read_text())
    assert "team-03/app" in json.dumps(audit)

    # The next day, still drifted: the same issue is edited.
    results = runner("schedule", {}, run_id=102).run(WORKFLOWS / "drift.yml")
    assert results["drift"].result == "failure"
    (edited,) = drift_issues(github)
    assert edited["number"] == issue["number"] and "actions/runs/102" in edited["body"]
    assert "actions/runs/101" in edited["body"]  # first seen

    # Fixed by apply: the next drift run comments and closes it; the run passes.
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    results = runner("schedule", {}, run_id=103).run(WORKFLOWS / "drift.yml")
    ok(results, "registries", "plan", "drift")
    (closed,) = drift_issues(github)
    assert closed["state"] == "closed"
    (comment,) = github.comments(OWNER, REPO, closed["number"])
    assert comment["body"].startswith("✅ Resolved") and "actions/runs/103" in comment["body"]
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) > 0  # only from the applies


def test_drift_workflow_without_drift_opens_nothing(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    writes = world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0)
    drift = runner("schedule", {}, variables={"DRIFT_SELF_HEAL": "true"})
    results = drift.run(WORKFLOWS / "drift.yml")
    ok(results, "registries", "plan", "verdict", "drift")
    assert "clean" in results["verdict"].output() and results["heal"].result == "skipped"
    assert "No drift" in results["drift"].summary and "no open drift issue" in results["drift"].output()
    assert github.issues(OWNER, REPO) == []
    assert "ECR access audit" in results["plan"].summary
    assert drift.artifacts is not None and (drift.artifacts / "access-main" / "access-main.json").exists()
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == writes


def test_self_heal_converges_and_the_next_drift_run_closes_the_issue(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    hand_edit(world)
    hand_edit(world, "team-06/app")
    heal_on = {"DRIFT_SELF_HEAL": "true"}
    results = runner("schedule", {}, variables=heal_on, run_id=201).run(WORKFLOWS / "drift.yml")
    ok(results, "registries", "plan", "verdict", "heal", "drift")  # healed: the run passes
    assert "healable" in results["verdict"].output()
    assert results["heal"].environment == "production" and results["heal"].assumed_roles == [APPLY_ROLE]
    for name in ("team-03/app", "team-06/app"):  # ours back, Lambda's kept
        sids = {statement["Sid"] for statement in stored(world.ecr, name)["Statement"]}
        assert sids == {"LambdaECRImageRetrievalPolicy", "AllowPullOrganizationPaths", "AllowPullAccounts"}
    (issue,) = drift_issues(github)
    assert issue["state"] == "open"  # recorded; closed once a drift run has seen it clean
    assert "Applied in `production` in this run: 2 of 2 repositories" in issue["body"]
    assert "`main/team-03/app`" in issue["body"] and "`main/team-06/app`" in issue["body"]

    results = runner("schedule", {}, variables=heal_on, run_id=202).run(WORKFLOWS / "drift.yml")
    ok(results, "registries", "plan", "verdict", "drift")
    assert results["heal"].result == "skipped"
    (closed,) = drift_issues(github)
    assert closed["number"] == issue["number"] and closed["state"] == "closed"


def test_self_heal_never_runs_when_a_person_must_decide(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """The provider config drifted (it holds an old policy), and later policies/ fails validation."""
    heal_on = {"DRIFT_SELF_HEAL": "true"}
    results = runner("schedule", {}, variables=heal_on).run(WORKFLOWS / "drift.yml")
    ok(results, "plan", "verdict")
    assert "drift" in results["verdict"].output() and results["heal"].result == "skipped"
    assert results["drift"].result == "failure"
    (issue,) = drift_issues(github)
    assert "On, but it did not run" in issue["body"] and "provider config" in issue["body"]
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0

    (world.policies / "main.yaml").write_text("registry:\n  name: main\n  account_id: 123456789012\n")
    results = runner("schedule", {}, variables=heal_on).run(WORKFLOWS / "drift.yml")
    assert results["registries"].result == "failure"
    assert results["plan"].result == "skipped" and results["verdict"].result == "skipped"
    assert results["heal"].result == "skipped" and results["drift"].result == "failure"
    (edited,) = drift_issues(github)
    assert edited["number"] == issue["number"] and "did not pass validation" in edited["body"]
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0


def test_drift_workflow_fails_loudly_when_github_refuses_with_the_plan_in_the_summary(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    hand_edit(world)
    github.fail_next(403, None, routes=["POST /repos/{owner}/{repo}/issues"])
    results = runner("schedule", {}).run(WORKFLOWS / "drift.yml")
    assert results["drift"].result == "failure"
    assert "could not update the drift issue" in results["drift"].output()
    assert "team-03/app" in results["drift"].summary
    assert github.issues(OWNER, REPO) == []


def test_only_the_drift_job_may_write_issues() -> None:
    jobs = yaml.safe_load((WORKFLOWS / "drift.yml").read_text())["jobs"]
    writers = [name for name, job in jobs.items() if job.get("permissions", {}).get("issues") == "write"]
    assert writers == ["drift"]
    assert jobs["heal"]["environment"] == "production"
    assert jobs["heal"]["concurrency"]["group"] == "ecr-policy-writes"  # never next to apply or backfill
    assert "id-token" not in jobs["drift"]["permissions"]  # the issue job holds no AWS role


NEW_ACCOUNT = "555566667777"


def commit_b(world: World) -> Path:
    """A later commit of main: commit A's policies as they were (a copy), and B's change in policies/."""
    commit_a = world.tmp / "commit-a"
    shutil.copytree(world.policies, commit_a / "policies")
    policies = world.policies / "main.yaml"
    policies.write_text(policies.read_text().replace('"444455556666"]', f'"444455556666", "{NEW_ACCOUNT}"]'))
    return commit_a


def test_a_merged_change_is_applied_whatever_queues_behind_it(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """Apply A running, apply B (a merged change) pending, then a backfill dispatch and a scheduled self-heal
    queued. The queue is GitHub's documented concurrency rule (ConcurrencyGroups), fed the groups our
    workflow files declare; the runs it lets through are played in that order."""
    groups = ConcurrencyGroups()
    apply_group = concurrency_group(WORKFLOWS / "apply.yml")
    a = groups.join("apply A", apply_group)
    b = groups.join("apply B", apply_group)
    backfill = groups.join("backfill", concurrency_group(WORKFLOWS / "backfill.yml", "backfill"))
    heal = groups.join("self-heal", concurrency_group(WORKFLOWS / "drift.yml", "heal"))
    assert (a.state, b.state) == ("running", "pending")
    assert backfill.state == "running" and heal.state == "pending"  # they queue among themselves

    commit_a = commit_b(world)
    # A runs; B has merged (main's head), so the backfill, dispatched after it, runs commit B.
    merge(github)
    ok(runner("push", {}, source=commit_a).run(WORKFLOWS / "apply.yml"), "production")
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": "100"}
    ok(
        runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, sha=COMMIT_B).run(
            WORKFLOWS / "backfill.yml"
        ),
        "backfill",
    )
    groups.finish(backfill)
    assert groups.finish(a) is b and b.state == "running"  # B was never cancelled
    ok(runner("push", {}, sha=COMMIT_B).run(WORKFLOWS / "apply.yml"), "production")
    assert NEW_ACCOUNT in json.dumps(stored(world.ecr, "team-01/app"))
    assert NEW_ACCOUNT in world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"]

    # The model is GitHub's rule, not ours: one shared writers' group (as before) drops B.
    shared = ConcurrencyGroups()
    shared.join("apply A", "ecr-policy-writes")
    dropped = shared.join("apply B", "ecr-policy-writes")
    shared.join("backfill", "ecr-policy-writes")
    assert dropped.state == "cancelled"


def test_a_writer_overlapping_an_approval_is_a_stale_error_naming_the_repository(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """The overlap the policies check leaves: a backfill from commit A passed its check (main's head was A),
    then B merged, and B's plan read team-01/app before the backfill wrote it. B's approved plan is stale
    there: skipped, never a silent revert of the other write, and the job fails naming it; the rest of B is
    applied. Played as: B's plan job; the backfill (its check answered as when it ran, before B
    merged; its plan, a read like B's, may come after B's without changing anything); B merges; B's
    `production` job."""
    commit_a = commit_b(world)
    inputs = {"repositories": "team-01/*", "registry": "", "dry_run": False, "max_changes": "100"}

    def meanwhile(job: str) -> None:
        if job == "production":
            ok(
                runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, source=commit_a).run(
                    WORKFLOWS / "backfill.yml"
                ),
                "backfill",
            )
            merge(github)

    results = runner("push", {}, sha=COMMIT_B, before_job=meanwhile).run(WORKFLOWS / "apply.yml")
    ok(results, "plan")
    assert results["production"].result == "failure"
    output = results["production"].output()
    assert "error: 1 skipped as stale (changed since the plan was made): main/team-01/app;" in output
    assert NEW_ACCOUNT not in json.dumps(stored(world.ecr, "team-01/app"))  # the backfill's write stands
    assert NEW_ACCOUNT in json.dumps(stored(world.ecr, "team-03/app"))  # the rest of B is applied
    # The next apply (or the drift check) brings them in line.
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    assert NEW_ACCOUNT in json.dumps(stored(world.ecr, "team-01/app"))


def test_a_backfill_approved_after_main_moved_on_writes_nothing(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A backfill dispatched on commit A; before it plans, B merges and its apply writes. A's plan then
    shows B's repositories as out of line; the backfill, approved, refuses before it assumes the write role:
    writing A's desired state would silently revert B's. (Approved after B's apply but planned before it,
    the stale check also stops it: the overlap test.)"""
    commit_a = commit_b(world)
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": "100"}

    def meanwhile(job: str) -> None:
        if job == "plan":
            merge(github)
            ok(runner("push", {}, sha=COMMIT_B).run(WORKFLOWS / "apply.yml"), "production")
            world.ecr.reset_stats()

    backfill = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, source=commit_a)
    backfill.before_job = meanwhile
    results = backfill.run(WORKFLOWS / "backfill.yml")
    ok(results, "plan")
    assert results["backfill"].result == "failure" and results["backfill"].assumed_roles == []
    output = results["backfill"].output()
    assert f"main has moved on since this run's commit {COMMIT_A} (policies/ changed)" in output
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0
    assert NEW_ACCOUNT in json.dumps(stored(world.ecr, "team-01/app"))  # B's change stands


def test_a_backfill_approved_after_a_merge_elsewhere_than_policies_writes(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A merge that changes no policies/ file starts no apply: nothing can have written in between, and
    the backfill goes ahead (a dependency update a week before a long-waiting approval costs nothing)."""
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": "100"}

    def meanwhile(job: str) -> None:
        if job == "backfill":
            merge(github, "c" * 40, ("README.md", "requirements.txt"))

    backfill = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, before_job=meanwhile)
    results = backfill.run(WORKFLOWS / "backfill.yml")
    ok(results, "plan", "backfill")
    assert (
        f"main has moved on since {COMMIT_A}, but not in policies/: writing." in results["backfill"].output()
    )
    assert "Apply: 3 applied" in results["backfill"].output()


def test_a_backfill_refuses_when_githubs_file_list_may_be_cut(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """GitHub lists at most 300 files of a comparison: a merge of 300 files elsewhere may hide a change to
    policies/ behind them, so the backfill cannot tell and writes nothing."""
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": "100"}

    def meanwhile(job: str) -> None:
        if job == "backfill":
            merge(github, "c" * 40, tuple(f"docs/{i:03}.md" for i in range(300)))

    backfill = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, before_job=meanwhile)
    results = backfill.run(WORKFLOWS / "backfill.yml")
    ok(results, "plan")
    assert results["backfill"].result == "failure" and results["backfill"].assumed_roles == []
    assert "too many files changed to tell" in results["backfill"].output()
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0


def test_a_backfill_refuses_when_githubs_comparison_cannot_be_read(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A comparison answered with a body that is not JSON: one clear error, and nothing written."""
    inputs = {"repositories": "team-0[0-4]/*", "registry": "", "dry_run": False, "max_changes": "100"}

    def meanwhile(job: str) -> None:
        if job == "backfill":
            github.garble_next(routes=["GET /repos/{owner}/{repo}/compare/{basehead}"])

    backfill = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, before_job=meanwhile)
    results = backfill.run(WORKFLOWS / "backfill.yml")
    ok(results, "plan")
    assert results["backfill"].result == "failure" and results["backfill"].assumed_roles == []
    assert "could not read GitHub's comparison of this run's commit with main" in results["backfill"].output()
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0


def test_a_self_heal_approved_after_main_moved_on_writes_nothing(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    """A drift run on commit A (a hand edit to heal); before it plans, B (a change to the payments override
    only: the provider config is as before) merges and its apply writes payments/api. A's plans show it out
    of line with the rest, only repositories: healable. The heal refuses; the issue says it did not
    finish, and B's change stands."""
    ok(runner("push", {}).run(WORKFLOWS / "apply.yml"), "production")
    hand_edit(world)
    commit_a = world.tmp / "commit-a"
    shutil.copytree(world.policies, commit_a / "policies")
    policies = world.policies / "main.yaml"
    policies.write_text(
        policies.read_text().replace('["777788889999"]', f'["777788889999", "{NEW_ACCOUNT}"]')
    )

    def meanwhile(job: str) -> None:
        if job == "plan":
            merge(github)
            ok(runner("push", {}, sha=COMMIT_B).run(WORKFLOWS / "apply.yml"), "production")
            world.ecr.reset_stats()

    drift = runner("schedule", {}, variables={"DRIFT_SELF_HEAL": "true"}, source=commit_a)
    drift.before_job = meanwhile
    results = drift.run(WORKFLOWS / "drift.yml")
    ok(results, "plan", "verdict")
    assert results["heal"].result == "failure" and results["heal"].assumed_roles == []
    assert "main has moved on since this run's commit" in results["heal"].output()
    assert world.ecr.stats()["requests"].get("SetRepositoryPolicy", 0) == 0
    assert NEW_ACCOUNT in json.dumps(stored(world.ecr, "payments/api"))  # B's change, not reverted
    assert results["drift"].result == "failure"
    (issue,) = drift_issues(github)
    assert "self-heal did not finish" in issue["body"]


def test_backfill_runs_from_main_only(world: World, github: GithubApi, runner: MakeRunner) -> None:
    inputs = {"repositories": "", "registry": "", "dry_run": True, "max_changes": "100"}
    results = runner("workflow_dispatch", {"inputs": inputs}, inputs=inputs, ref="refs/heads/feature").run(
        WORKFLOWS / "backfill.yml"
    )
    assert results["plan"].result == "failure" and results["plan"].assumed_roles == []
    assert "backfill runs from main only" in results["plan"].output()
    assert world.ecr.stats()["requests"] == {}


def test_pull_request_plans_since_the_newest_snapshot_of_main(
    world: World, github: GithubApi, runner: MakeRunner, tmp_path: Path
) -> None:
    """The drift check saves a snapshot as an artifact of main; the pull request's plan finds the run that
    saved it (`gh api`, played by a stand-in naming that run) and plans --since it."""
    world.ecr.age_events(3600)
    drift = runner("schedule", {}, run_id=301)
    ok(drift.run(WORKFLOWS / "drift.yml"), "plan")
    assert drift.artifacts is not None
    assert (drift.artifacts / "snapshot-main" / "snapshot-main.jsonl").exists()
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "gh").write_text("#!/bin/sh\necho 301\n")
    (stand_in / "gh").chmod(0o755)
    pr = runner("pull_request", pr_event())
    pr.env["PATH"] = f"{stand_in}:{pr.env['PATH']}"
    shutil.copytree(drift.artifacts, pr.workspace / "artifacts")
    world.ecr.reset_stats()
    results = pr.run(WORKFLOWS / "plan.yml")
    ok(results, "validate", "plan", "comment")
    assert "from the snapshot of" in results["plan"].summary
    assert world.ecr.stats()["requests"].get("GetRepositoryPolicy", 0) == 0  # nothing changed since
    (comment,) = github.comments(OWNER, REPO, 7)
    assert "Live state: from the snapshot of" in comment["body"]


def test_without_a_snapshot_the_pull_request_plans_in_full(
    world: World, github: GithubApi, runner: MakeRunner
) -> None:
    results = runner("pull_request", pr_event()).run(WORKFLOWS / "plan.yml")  # no `gh`: no snapshot found
    ok(results, "validate", "plan", "comment")
    assert "from the snapshot" not in results["plan"].summary
    assert world.ecr.stats()["requests"].get("GetRepositoryPolicy", 0) == len(world.managed)
