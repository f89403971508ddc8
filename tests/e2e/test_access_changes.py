"""Access changes on the sandbox: after an apply, edits to policies/ that add, remove and rename accounts
and OU paths are planned as who gains and who loses pull, on how many repositories; a Sid-only edit as
none. Without `organization:` what the strings cannot prove is "may lose"; with it (the sandbox's emulated
organization) grants are resolved, and the comment made from the plan file shows the plan's delta."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sample_registry import POLICIES_YAML, run_cli

from reconciler.sandbox.ecr.organizations import (
    CLUSTERS_OU,
    ORG_ID,
    ORG_READ_ROLE,
    PROD_OU,
    ROOT_ID,
    WORKLOADS_OU,
)

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
OU = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"
RENAMED_OU = "o-a1b2c3d4e5/*/ou-ab12-99998888/*"


def converge(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST
    )
    assert code == 0, err


def _provider(change: dict[str, Any]) -> str | None:
    return next((way for way in ("loses", "may_lose", "gains") if change[way]["provider"]), None)


def planned(world: World, capsys: pytest.CaptureFixture[str], yaml: str) -> tuple[dict[str, object], str]:
    """principal -> (repositories gaining, losing, maybe losing, which way the provider config moves it)."""
    (world.policies / "main.yaml").write_text(yaml, encoding="utf-8")
    code, out, err = run_cli(capsys, "plan", "--policies", str(world.policies), "--format", "json", *FAST)
    assert code == 0, err
    data = json.loads(out)
    (registry,) = data["registries"]
    _, text, _ = run_cli(capsys, "plan", "--policies", str(world.policies), *FAST)
    return {
        c["principal"]: (
            c["gains"]["repositories"],
            c["loses"]["repositories"],
            c["may_lose"]["repositories"],
            _provider(c),
        )
        for c in registry["access"]["changes"]
    }, text


def test_accounts_and_paths_added_removed_and_renamed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    converge(world, capsys)
    team = len([n for n in world.managed if not n.startswith("payments/")])  # the default pull_access
    yaml = POLICIES_YAML.replace('"444455556666"]', '"999900001111"]').replace(OU, RENAMED_OU)
    changes, text = planned(world, capsys, yaml)
    # No `organization:`: the renamed OU may hold the old one, and 444455556666 may sit in it.
    assert changes == {
        "444455556666": (0, 0, team, "may_lose"),
        OU: (0, 0, team, "may_lose"),
        "999900001111": (team, 0, 0, "gains"),
        RENAMED_OU: (team, 0, 0, "gains"),
    }
    # Losses lead, ahead of the statement edits.
    lines = text.splitlines()
    losses = [i for i, line in enumerate(lines) if " may lose pull " in line]
    gains = [i for i, line in enumerate(lines) if " gains pull on " in line]
    edits = [i for i, line in enumerate(lines) if "remove account" in line]
    assert losses and gains and edits and max(losses) < min(gains) < min(edits)
    assert (
        f"    ? account 444455556666 may lose pull (can't tell without organization:) on {team} repositories "
        "and on new repositories (provider config)" in lines
    )


def test_an_override_removed_is_a_loss_only_where_it_applied(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    converge(world, capsys)
    yaml = POLICIES_YAML.split("overrides:")[0]  # payments/* falls back to the default access
    changes, _ = planned(world, capsys, yaml)
    assert changes == {
        "777788889999": (0, 0, 1, None),  # it may sit in the OU the default grants
        "111122223333": (1, 0, 0, None),
        "444455556666": (1, 0, 0, None),
        OU: (1, 0, 0, None),
    }


def test_a_sid_only_change_shows_no_access_change(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Accounts only: one statement, Sid AllowPull. Then the same grant under another owned Sid.
    yaml = POLICIES_YAML.replace(f'  organization_paths: ["{OU}"]\n', "")
    (world.policies / "main.yaml").write_text(yaml, encoding="utf-8")
    converge(world, capsys)
    for name in world.managed:
        text = world.ecr.stored_policy(name)
        assert text is not None
        document = json.loads(text)
        for statement in document["Statement"]:
            if statement.get("Sid") == "AllowPull":
                statement["Sid"] = "AllowPullLegacy"
        world.ecr.client().set_repository_policy(repositoryName=name, policyText=json.dumps(document))
    changes, text = planned(world, capsys, yaml)
    assert changes == {}
    assert "to update" in text and "Access changes" not in text and "remove statement AllowPullLegacy" in text


WITH_ROLE = f"organization:\n  role_arn: {ORG_READ_ROLE}\n"
FULL_OU = f"{ORG_ID}/{ROOT_ID}/{WORKLOADS_OU}/{CLUSTERS_OU}/*"


@pytest.fixture
def org_world(world: World, capsys: pytest.CaptureFixture[str]) -> World:
    """The sample registry applied, its file checked against the sandbox's organization."""
    world.ecr.seed_organization()
    (world.policies / "main.yaml").write_text(POLICIES_YAML + WITH_ROLE, encoding="utf-8")
    converge(world, capsys)
    return world


def _access_block(markdown: str) -> str:
    """From the summary line's end to the table: who loses, may lose, gains, and the notes."""
    start = markdown.index("**Plan:")
    return markdown[markdown.index("\n", start) : markdown.index("| Registry |")]


def test_with_the_organization_a_respelled_ou_and_an_account_inside_it_are_no_loss(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # The case: the OU by its full path, and 444455556666 (in clusters/prod) dropped.
    yaml = POLICIES_YAML.replace(OU, FULL_OU).replace(', "444455556666"]', "]") + WITH_ROLE
    changes, text = planned(org_world, capsys, yaml)
    assert changes == {}
    assert "to update" in text and "Access changes" not in text and "remove account 444455556666" in text


def test_with_the_organization_a_narrowing_names_who_loses_and_the_comment_shows_the_same(
    org_world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    team = len([n for n in org_world.managed if not n.startswith("payments/")])
    # From all of clusters to prod only, and 111122223333 (directly in clusters) no longer listed.
    prod = f"{ORG_ID}/*/{PROD_OU}/*"
    yaml = POLICIES_YAML.replace(OU, prod).replace('"111122223333", ', "") + WITH_ROLE
    changes, _ = planned(org_world, capsys, yaml)
    assert changes == {CLUSTERS_OU: (0, team, 0, "loses")}
    plan_file = org_world.tmp / "plan.json"
    code, markdown, err = run_cli(
        capsys,
        "plan",
        "--policies",
        str(org_world.policies),
        "--format",
        "markdown",
        "--out",
        str(plan_file),
        *FAST,
    )
    assert code == 0, err
    block = _access_block(markdown)
    assert (
        f"> - OU `{CLUSTERS_OU}` (clusters: account 111122223333) loses pull on {team} repositories and on "
        "new repositories (provider config)" in block
    )
    assert "444455556666" not in block  # in prod: keeps pull
    # `comment` reads the plan file, with no AWS access at all: the same delta.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    code, body, err = run_cli(capsys, "comment", "--plan", str(plan_file), "--no-post")
    assert code == 0, err
    assert _access_block(body) == block


def test_with_the_organization_plan_refuses_a_template_reaching_outside_the_override_s_ou(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # payments/* by its OU; the payments template by an account: validate cannot tell, the plan can.
    payments_ou = f'organization_paths: ["{ORG_ID}/*/ou-ab12-paym0001/*"]'
    yaml = POLICIES_YAML.replace('accounts: ["777788889999"]', payments_ou) + WITH_ROLE
    template = "creation_templates:\n  - prefix: payments\n    applied_for: [CREATE_ON_PUSH]\n"
    inside = yaml + template + '    pull_access:\n      accounts: ["777788889999"]\n'
    policies = org_world.policies / "main.yaml"
    policies.write_text(inside, encoding="utf-8")
    assert run_cli(capsys, "validate", "--policies", str(org_world.policies))[0] == 0
    code, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    assert code == 0, err  # 777788889999 sits in payments
    outside = inside.replace('accounts: ["777788889999"]\n', 'accounts: ["444455556666"]\n')
    policies.write_text(outside, encoding="utf-8")
    assert run_cli(capsys, "validate", "--policies", str(org_world.policies))[0] == 0
    code, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    line = outside.splitlines().index("  - prefix: payments") + 1
    assert code == 1
    assert (
        f"{policies}:{line}:1: creation template 'payments' grants account 444455556666, which the override "
        "at line 13 (payments/*) does not" in err
    )
    assert f"(resolved in AWS Organizations {ORG_ID})" in err


def test_with_the_organization_a_template_s_own_principals_are_checked_too(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    template = "creation_templates:\n  - prefix: team-x\n    applied_for: [CREATE_ON_PUSH]\n"
    text = POLICIES_YAML + WITH_ROLE + template + '    pull_access:\n      accounts: ["999999999999"]\n'
    policies = org_world.policies / "main.yaml"
    policies.write_text(text, encoding="utf-8")
    code, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    line = text.splitlines().index('      accounts: ["999999999999"]') + 1
    assert code == 1
    assert f"{policies}:{line}:18: account 999999999999 is not in organization {ORG_ID}" in err
