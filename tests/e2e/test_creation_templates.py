"""Repository creation templates, the third target beside the provider config and the repositories: created
when missing, their policy brought in line with every other field kept byte for byte, no write when in line,
restored, and the policy reaching a repository that a push creates with no apply in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sample_registry import ACCOUNT, DESIRED, LAMBDA, OLD, POLICIES_YAML, run_cli, with_statements

from reconciler.apply.journal import final_records, read_journal
from reconciler.desired.model import PullAccess
from reconciler.plan.saved import PLAN_MISMATCH
from reconciler.policy.normalize import equivalent
from reconciler.policy.render import policy_text, render_policy
from reconciler.sandbox.ecr import EcrEmulator
from reconciler.sandbox.ecr.call import SandboxError

from .conftest import World
from .support import write_policies

FAST = ("--no-progress", "--max-rps", "500")
TEMPLATES_YAML = """\
creation_templates:
  - prefix: ROOT
    applied_for: [REPLICATION, CREATE_ON_PUSH]
  - prefix: payments
    applied_for: [CREATE_ON_PUSH]
    pull_access:
      accounts: ["777788889999"]
"""
PAYMENTS = policy_text(render_policy(ACCOUNT, PullAccess(accounts=("777788889999",))))
LIFECYCLE = (
    '{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged",'
    '"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}'
)
# An existing ROOT template: an old policy with a foreign statement, and every other field set.
EXISTING: dict[str, Any] = {
    "prefix": "ROOT",
    "description": "replicas of the main registry",
    "encryptionConfiguration": {
        "encryptionType": "KMS",
        "kmsKey": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0d1f7a6e-1111-2222-3333-444455556666",
    },
    "resourceTags": [{"Key": "team", "Value": "platform"}, {"Key": "cost-center", "Value": "42"}],
    "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
    "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest*"}],
    "repositoryPolicy": with_statements(OLD, LAMBDA),
    "lifecyclePolicy": LIFECYCLE,
    "appliedFor": ["REPLICATION"],
    "customRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecr-template-role",
}
WRITES = (
    "CreateRepositoryCreationTemplate",
    "UpdateRepositoryCreationTemplate",
    "DeleteRepositoryCreationTemplate",
)


@pytest.fixture
def templated(world: World) -> World:
    write_policies(world.tmp, POLICIES_YAML + TEMPLATES_YAML)
    return world


def cli(capsys: pytest.CaptureFixture[str], world: World, command: str, *extra: str) -> tuple[int, str, str]:
    report = ("--report", str(world.report)) if command in ("apply", "backfill") else ()
    return run_cli(capsys, command, "--policies", str(world.policies), *report, *FAST, *extra)


def template_writes(ecr: EcrEmulator) -> dict[str, int]:
    requests: dict[str, int] = ecr.stats()["requests"]
    return {action: requests[action] for action in WRITES if action in requests}


def kept_fields(template: dict[str, Any]) -> str:
    """Every field but the two we write and the update time, serialized exactly."""
    rest = {k: v for k, v in template.items() if k not in ("repositoryPolicy", "appliedFor", "updatedAt")}
    return json.dumps(rest, sort_keys=True)


def test_a_missing_template_is_created_with_the_rendered_policy(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, plan, err = cli(capsys, templated, "plan", "--detailed-exitcode")
    assert code == 2, err
    assert "+ creation template ROOT: create" in plan and "applied for REPLICATION, CREATE_ON_PUSH" in plan
    assert "creation templates: 2 to create" in plan

    code, _out, err = cli(capsys, templated, "apply")

    assert code == 0, err
    templates = templated.ecr.stored_templates()
    assert templates["ROOT"]["repositoryPolicy"] == DESIRED  # the default access, exactly as rendered
    assert templates["ROOT"]["appliedFor"] == ["REPLICATION", "CREATE_ON_PUSH"]
    assert templates["payments"]["repositoryPolicy"] == PAYMENTS  # its own access
    assert templates["payments"]["appliedFor"] == ["CREATE_ON_PUSH"]
    assert template_writes(templated.ecr) == {"CreateRepositoryCreationTemplate": 2}
    lines = [r for r in final_records(read_journal(templated.report)) if r.target == "template"]
    assert [(r.name, r.action, r.result, r.before, r.applied_for_before) for r in lines] == [
        ("ROOT", "create", "applied", None, None),
        ("payments", "create", "applied", None, None),
    ]
    assert lines[0].applied_for_after == ["REPLICATION", "CREATE_ON_PUSH"]


def test_an_existing_template_gets_the_new_policy_and_keeps_the_rest_byte_for_byte(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    templated.ecr.put_template(EXISTING)
    before = templated.ecr.stored_templates()["ROOT"]

    code, plan, _ = cli(capsys, templated, "plan")
    assert "~ creation template ROOT: update" in plan
    assert "applied for: add CREATE_ON_PUSH" in plan and "add account 444455556666" in plan
    code, _, err = cli(capsys, templated, "apply")

    assert code == 0, err
    after = templated.ecr.stored_templates()["ROOT"]
    assert kept_fields(after) == kept_fields(before)
    assert after["appliedFor"] == ["REPLICATION", "CREATE_ON_PUSH"]
    # The foreign statement kept as read, ours as rendered.
    assert equivalent(json.loads(after["repositoryPolicy"]), json.loads(with_statements(DESIRED, LAMBDA)))
    assert template_writes(templated.ecr) == {
        "UpdateRepositoryCreationTemplate": 1,
        "CreateRepositoryCreationTemplate": 1,
    }


def test_a_second_apply_makes_no_template_call_but_one_read(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    templated.ecr.put_template(EXISTING)
    assert cli(capsys, templated, "apply")[0] == 0
    templated.ecr.reset_stats()

    code, out, err = cli(capsys, templated, "apply")

    assert code == 0, err
    assert template_writes(templated.ecr) == {}
    assert templated.ecr.stats()["requests"]["DescribeRepositoryCreationTemplates"] == 1
    assert "creation template ROOT: no changes" in out
    code, out, _ = cli(capsys, templated, "plan", "--detailed-exitcode")
    assert code == 0, out  # no false drift, though the emulator hands the policy back reformatted


def test_restore_round_trips_the_templates(templated: World, capsys: pytest.CaptureFixture[str]) -> None:
    templated.ecr.put_template(EXISTING)
    before = templated.ecr.stored_templates()
    assert cli(capsys, templated, "apply")[0] == 0
    assert set(templated.ecr.stored_templates()) == {"ROOT", "payments"}

    out = templated.tmp / "restore.jsonl"
    code, stdout, err = run_cli(
        capsys,
        "restore",
        "--policies",
        str(templated.policies),
        "--report",
        str(templated.report),
        "--out",
        str(out),
        *FAST,
    )

    assert code == 0, err
    assert "2 creation templates" in stdout
    after = templated.ecr.stored_templates()
    assert set(after) == {"ROOT"}  # the one the apply created is gone again
    assert kept_fields(after["ROOT"]) == kept_fields(before["ROOT"])
    assert after["ROOT"]["appliedFor"] == ["REPLICATION"]
    # As read before the apply (ECR hands policies back reformatted): the same meaning.
    assert equivalent(
        json.loads(after["ROOT"]["repositoryPolicy"]), json.loads(before["ROOT"]["repositoryPolicy"])
    )
    # And a restore of the restore puts the apply's templates back.
    code, _, err = run_cli(
        capsys,
        "restore",
        "--policies",
        str(templated.policies),
        "--report",
        str(out),
        "--out",
        str(templated.tmp / "r2.jsonl"),
        *FAST,
    )
    assert code == 0, err
    again = templated.ecr.stored_templates()
    assert again["payments"]["repositoryPolicy"] == PAYMENTS
    assert again["ROOT"]["appliedFor"] == ["REPLICATION", "CREATE_ON_PUSH"]


def test_restore_leaves_a_created_template_that_someone_added_settings_to(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, templated, "apply")[0] == 0
    client = templated.ecr.client(bypass=True)
    current = client.describe_repository_creation_templates(prefixes=["payments"])[
        "repositoryCreationTemplates"
    ][0]
    client.update_repository_creation_template(
        prefix="payments",
        appliedFor=current["appliedFor"],
        repositoryPolicy=current["repositoryPolicy"],
        lifecyclePolicy=LIFECYCLE,
    )

    code, _stdout, err = run_cli(
        capsys,
        "restore",
        "--policies",
        str(templated.policies),
        "--report",
        str(templated.report),
        "--out",
        str(templated.tmp / "r.jsonl"),
        *FAST,
    )

    assert code == 1
    assert "stale, skipped: main/payments" in err and "lifecyclePolicy" in err
    assert templated.ecr.stored_templates()["payments"]["lifecyclePolicy"] == LIFECYCLE


def test_create_on_push_after_apply_gives_the_repository_the_desired_policy(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: no template, so ECR refuses to create the repository on push.
    with pytest.raises(SandboxError):
        templated.ecr.push_image("team-new/app")
    assert cli(capsys, templated, "apply")[0] == 0
    templated.ecr.reset_stats()

    assert templated.ecr.push_image("team-new/app") == "ROOT"
    assert templated.ecr.push_image("payments/ledger") == "payments"

    assert templated.ecr.stats()["total_requests"] == 0  # no apply (nor any ECR call) in between
    assert templated.ecr.stored_policy("team-new/app") == DESIRED
    assert templated.ecr.stored_policy("payments/ledger") == PAYMENTS
    # What the repositories got is what the reconciler would give them: nothing left to do.
    code, out, _ = cli(capsys, templated, "plan", "--detailed-exitcode")
    assert code == 0, out


def test_a_saved_plan_with_an_edited_template_is_refused(
    templated: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    templated.ecr.put_template(EXISTING)
    saved = tmp_path / "plan.json"
    assert cli(capsys, templated, "plan", "--out", str(saved))[0] == 0
    data = json.loads(saved.read_text())
    (registry,) = data["registries"]
    root = next(t for t in registry["templates"] if t["prefix"] == "ROOT")
    payments = next(t for t in registry["templates"] if t["prefix"] == "payments")
    document = json.loads(root["after"])
    document["Statement"][-1]["Condition"]["StringEquals"]["aws:PrincipalAccount"].append("666666666666")
    root["after"] = json.dumps(document)
    payments["applied_for_after"] = ["CREATE_ON_PUSH", "REPLICATION"]
    saved.write_text(json.dumps(data))
    before = templated.ecr.stored_templates()

    code, _, err = cli(capsys, templated, "apply", "--plan", str(saved))

    assert code == 1
    assert f"failed: main/ROOT (template): {PLAN_MISMATCH}" in err
    assert f"failed: main/payments (template): {PLAN_MISMATCH}" in err
    assert templated.ecr.stored_templates() == before  # neither template written
    assert template_writes(templated.ecr) == {}
    # The repositories of the same plan were applied.
    assert templated.ecr.stored_policy("team-01/app") is not None
    assert equivalent(json.loads(templated.ecr.stored_policy("team-01/app") or "{}"), json.loads(DESIRED))


def test_a_template_with_a_public_foreign_statement_is_never_written(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    public = {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    templated.ecr.put_template(EXISTING | {"repositoryPolicy": with_statements(OLD, public)})

    code, out, err = cli(capsys, templated, "apply")

    assert code == 1
    assert "! creation template ROOT: refusing to write this policy: statement Open" in out
    assert "failed: main/ROOT (template)" in err
    assert "UpdateRepositoryCreationTemplate" not in templated.ecr.stats()["requests"]
    assert templated.ecr.stored_templates()["payments"]["repositoryPolicy"] == PAYMENTS  # the others go on


def test_backfill_and_repository_runs_leave_templates_alone(
    templated: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, templated, "backfill")[0] == 0
    assert cli(capsys, templated, "apply", "--repository", "team-*")[0] == 0
    assert templated.ecr.stored_templates() == {}
    assert "DescribeRepositoryCreationTemplates" not in templated.ecr.stats()["requests"]
