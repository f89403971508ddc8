"""Principals checked against AWS Organizations, on the sandbox (moto's organizations behind the emulator's
rules, seeded to match the sample policies): each failure stops plan and apply with `path:line:col` and the
reason, and apply then writes nothing (the emulator's and the nullplatform double's counters say so)."""

from __future__ import annotations

import pytest
from sample_registry import POLICIES_YAML, run_cli

from reconciler.sandbox.ecr.organizations import ORG_READ_ROLE, OUTSIDE_ACCOUNT, SUSPENDED_ACCOUNT

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
OU = "o-a1b2c3d4e5/*/ou-ab12-cdef3456/*"
WRITES = ("SetRepositoryPolicy", "DeleteRepositoryPolicy")
PATCH = "PATCH /provider/{provider_id}"
# The read-only role in the sandbox organization's management account (the registry's account is a member).
WITH_ROLE = f"organization:\n  role_arn: {ORG_READ_ROLE}\n"
ORG_CALLS = ("DescribeOrganization", "ListRoots", "ListOrganizationalUnitsForParent", "ListAccountsForParent")


@pytest.fixture
def org_world(world: World) -> World:
    world.ecr.seed_organization()
    return world


def policies(world: World, yaml: str, organization: str = WITH_ROLE) -> str:
    text = yaml + organization
    (world.policies / "main.yaml").write_text(text, encoding="utf-8")
    return text


def position(text: str, value: str) -> tuple[int, int]:
    """1-based line and column of the first occurrence of `value`, quotes included."""
    index = text.index(value)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def apply(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    world.ecr.reset_stats()
    world.nullplatform.reset_stats()
    args = ("apply", "--policies", str(world.policies), "--report", str(world.report), *extra, *FAST)
    return run_cli(capsys, *args)


def writes(world: World) -> int:
    requests = world.ecr.stats()["requests"]
    return sum(requests.get(a, 0) for a in WRITES) + world.nullplatform.stats()["requests"].get(PATCH, 0)


def assert_refused(
    world: World, capsys: pytest.CaptureFixture[str], text: str, value: str, reason: str
) -> None:
    """plan and apply both exit 1 naming the value's place and the reason; apply writes nothing."""
    line, column = position(text, value)
    expected = f"{world.policies / 'main.yaml'}:{line}:{column}: {reason}"
    code, _, err = run_cli(capsys, "plan", "--policies", str(world.policies), *FAST)
    assert code == 1 and expected in err, err
    code, _, err = apply(world, capsys)
    assert code == 1 and expected in err, err
    assert writes(world) == 0
    # Checked before anything else is read: not even a repository listing.
    assert "DescribeRepositories" not in world.ecr.stats()["requests"]


def test_the_sample_policies_resolve_and_the_organization_is_read_once(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    policies(org_world, POLICIES_YAML)
    code, _, err = apply(org_world, capsys)
    assert code == 0, err
    assert "warning" not in err
    requests = org_world.ecr.stats()["requests"]
    # One read for the run: DescribeOrganization and ListRoots once, one listing of each kind per parent
    # (the root and six OUs).
    assert {a: requests.get(a) for a in ORG_CALLS} == {
        "DescribeOrganization": 1,
        "ListRoots": 1,
        "ListOrganizationalUnitsForParent": 7,
        "ListAccountsForParent": 7,
    }
    assert writes(org_world) > 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("o-a1b2c3d4e5/*/ou-ab12-zzzz9999/*", "ou-ab12-zzzz9999 is not in organization o-a1b2c3d4e5"),
        (
            "o-a1b2c3d4e5/*/ou-ab12-paym0001/ou-ab12-prod0001/*",
            "ou-ab12-prod0001 is not directly under ou-ab12-paym0001: it is under "
            "o-a1b2c3d4e5/r-ab12/ou-ab12-wrkl0001/ou-ab12-cdef3456/",
        ),
        (
            "o-a1b2c3d4e5/r-ab12/ou-ab12-cdef3456/*",
            "ou-ab12-cdef3456 is not directly under root r-ab12",
        ),
        (
            "o-zzzzzzzzzz/*/ou-ab12-cdef3456/*",
            "o-zzzzzzzzzz is not your organization: the credentials read organization o-a1b2c3d4e5",
        ),
        (
            "o-a1b2c3d4e5/r-zz99/ou-ab12-wrkl0001/*",
            "r-zz99 is not the root of organization o-a1b2c3d4e5 (its root is r-ab12)",
        ),
    ],
    ids=["unknown-ou", "other-parent", "not-under-root", "other-organization", "wrong-root"],
)
def test_an_organization_path_that_does_not_resolve_stops_plan_and_apply(
    org_world: World, capsys: pytest.CaptureFixture[str], value: str, reason: str
) -> None:
    text = policies(org_world, POLICIES_YAML.replace(OU, value))
    assert_refused(org_world, capsys, text, f'"{value}"', reason)


def test_an_account_outside_the_organization_stops_plan_and_apply(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    text = policies(org_world, POLICIES_YAML.replace('"777788889999"', f'"{OUTSIDE_ACCOUNT}"'))
    reason = f"account {OUTSIDE_ACCOUNT} is not in organization o-a1b2c3d4e5"
    assert_refused(org_world, capsys, text, f'"{OUTSIDE_ACCOUNT}"', reason)


def test_an_external_account_listed_as_such_is_accepted(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    organization = WITH_ROLE + f'  external_accounts: ["{OUTSIDE_ACCOUNT}"]\n'
    policies(org_world, POLICIES_YAML.replace('"777788889999"', f'"{OUTSIDE_ACCOUNT}"'), organization)
    code, _, err = apply(org_world, capsys)
    assert code == 0, err
    assert writes(org_world) > 0


def test_a_suspended_member_is_a_warning_not_an_error(
    org_world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    text = policies(org_world, POLICIES_YAML.replace('"777788889999"', f'"{SUSPENDED_ACCOUNT}"'))
    line, column = position(text, f'"{SUSPENDED_ACCOUNT}"')
    code, _, err = apply(org_world, capsys)
    assert code == 0, err
    assert (
        f"main.yaml:{line}:{column}: warning: account {SUSPENDED_ACCOUNT} (old-sandbox) is suspended" in err
    )
    assert f"::warning file={org_world.policies / 'main.yaml'},line={line},col={column}::" in err
    assert writes(org_world) > 0


def test_errors_are_github_annotations_on_actions(
    org_world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    text = policies(org_world, POLICIES_YAML.replace('"777788889999"', f'"{OUTSIDE_ACCOUNT}"'))
    line, column = position(text, f'"{OUTSIDE_ACCOUNT}"')
    code, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    assert code == 1
    annotation = (
        f"::error file={org_world.policies / 'main.yaml'},line={line},col={column}::account {OUTSIDE_ACCOUNT}"
    )
    assert annotation in err


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        # A member account: Organizations answers only the management account (or a delegated admin).
        (
            "arn:aws:iam::111122223333:role/org-read",
            "AWS Organizations refused role arn:aws:iam::111122223333:role/org-read (ListRoots: "
            "AccessDeniedException",
        ),
        # An account in no organization.
        (
            f"arn:aws:iam::{OUTSIDE_ACCOUNT}:role/org-read",
            f"the account of role arn:aws:iam::{OUTSIDE_ACCOUNT}:role/org-read is not in an organization",
        ),
    ],
    ids=["access-denied", "not-in-use"],
)
def test_organizations_refusing_names_the_role_and_writes_nothing(
    org_world: World, capsys: pytest.CaptureFixture[str], role: str, reason: str
) -> None:
    text = policies(org_world, POLICIES_YAML, f"organization:\n  role_arn: {role}\n")
    assert_refused(org_world, capsys, text, role, f"registry main: {reason}")
    _, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    assert "organization.role_arn" in err and "Traceback" not in err


def test_the_run_s_own_credentials_in_a_member_account_are_denied_and_told_to_use_a_role(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # `organization: {}`: the run's own credentials, the registry's account, a member of the organization.
    text = policies(org_world, POLICIES_YAML, "organization: {}\n")
    reason = "registry main: AWS Organizations refused the run's own credentials (no organization.role_arn)"
    assert_refused(org_world, capsys, text, "organization:", reason)
    _, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), *FAST)
    assert "set organization.role_arn to the read-only role" in err


def test_access_denied_injected_by_the_emulator(org_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    text = policies(org_world, POLICIES_YAML)
    org_world.ecr.configure(organizations_fault="AccessDeniedException")
    reason = (
        f"registry main: AWS Organizations refused role {ORG_READ_ROLE} (DescribeOrganization: AccessDenied"
    )
    assert_refused(org_world, capsys, text, ORG_READ_ROLE, reason)


def test_apply_of_a_saved_plan_checks_again_before_writing(
    org_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    policies(org_world, POLICIES_YAML)
    saved = org_world.tmp / "plan.json"
    code, _, err = run_cli(capsys, "plan", "--policies", str(org_world.policies), "--out", str(saved), *FAST)
    assert code == 0, err
    org_world.ecr.configure(organizations_fault="AWSOrganizationsNotInUseException")
    code, _, err = apply(org_world, capsys, "--plan", str(saved))
    assert code == 1 and "is not in an organization" in err
    assert writes(org_world) == 0


def test_registries_without_the_key_never_call_organizations(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.ecr.configure(organizations_fault="AccessDeniedException")
    code, _, err = apply(world, capsys)
    assert code == 0, err
    assert not set(ORG_CALLS) & set(world.ecr.stats()["requests"])
