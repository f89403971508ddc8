"""End to end on the sandbox: `reconciler access` reads every repository (excluded ones too), writes
nothing, and answers who may pull as worked out by hand from the seeded policies.

The seeded world (support.seed): DESIRED = AllowPullOrganizationPaths (o-a1b2c3d4e5/*/ou-ab12-cdef3456/*)
+ AllowPullAccounts (123456789012, 111122223333, 444455556666); OLD = AllowPull for 123456789012 and
111122223333 only; None = no policy. Added here: payments/ledger (AllowPull for 123456789012 and
777788889999), open/app (anyone), push/app (ecr:* for 111122223333), denied/app (DESIRED + a Deny of
BatchGetImage to 111122223333).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

import pytest
from sample_registry import ACCOUNT, DESIRED, OLD, run_cli

from reconciler.desired.model import PullAccess
from reconciler.policy.access import ORG_NOT_CONFIGURED
from reconciler.policy.render import policy_text, render_policy
from reconciler.sandbox.ecr.organizations import DEFAULT_ORGANIZATION, ORG_READ_ROLE, PROD_OU, AccountSpec

from .conftest import World

PAYMENTS = render_policy(ACCOUNT, PullAccess(accounts=("777788889999",)))

FAST = ("--no-progress", "--max-rps", "500")
A = "111122223333"
PAYMENTS_ACCOUNT = "777788889999"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


OPEN = _policy({"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage", "ecr:*"]})
PUSH = _policy({"Sid": "TeamPush", "Effect": "Allow", "Principal": {"AWS": A}, "Action": "ecr:*"})
DENIED = json.dumps(
    json.loads(DESIRED)
    | {
        "Statement": [
            *json.loads(DESIRED)["Statement"],
            {"Sid": "NoA", "Effect": "Deny", "Principal": {"AWS": A}, "Action": "ecr:BatchGetImage"},
        ]
    }
)
EXTRA = {
    "payments/ledger": policy_text(PAYMENTS),
    "open/app": OPEN,
    "push/app": PUSH,
    "denied/app": DENIED,
}


@pytest.fixture
def audited(world: World) -> World:
    for name, text in EXTRA.items():
        world.ecr.create_repository(name, policy_text=text)
        world.seeded[name] = text
    return world


def access(world: World, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "access", "--policies", str(world.policies), *FAST, *extra)


def test_audit_reads_every_repository_once_and_writes_nothing(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    audited.ecr.reset_stats()
    code, out, err = access(audited, capsys, "--format", "json")
    assert code == 0, err
    # One page, one policy read per repository, sandbox/x (excluded by `repositories:`) included.
    assert audited.ecr.stats()["requests"] == {
        "DescribeRepositories": 1,
        "GetRepositoryPolicy": len(audited.seeded),
    }
    report = json.loads(out)
    (registry,) = report["registries"]
    repos = {r["repository"]: r for r in registry["repositories"]}
    assert set(repos) == set(audited.seeded)
    assert "sandbox/x" in repos
    assert registry["notes"] == [
        f"grants to accounts outside the organization were not checked: {ORG_NOT_CONFIGURED}"
    ]

    no_policy = sorted(n for n, t in audited.seeded.items() if t is None)
    assert report["findings"] == {"beyond-pull": 2, "no-policy": len(no_policy), "public": 1}
    kinds = {n: sorted(f["kind"] for f in r["findings"]) for n, r in repos.items() if r["findings"]}
    assert kinds == {
        **{n: ["no-policy"] for n in no_policy},
        "open/app": ["beyond-pull", "public"],
        "push/app": ["beyond-pull"],
    }
    # The foreign Lambda statement is a grant to the service, not to an account.
    lambda_grant = repos["team-foreign/none"]["grants"][0]
    assert lambda_grant["principals"] == ["service lambda.amazonaws.com"]
    assert lambda_grant["not_evaluated"] == ["condition key aws:sourceArn is not evaluated"]
    # The Deny limits the account grant (it names A) and the wildcard one; it revokes neither.
    # Net of the Deny, A is shut out of the account grant (denied_accounts).
    statuses = {
        g["statement"]: (g["status"], g["denied_by"], g["denied_accounts"])
        for g in repos["denied/app"]["grants"]
    }
    assert statuses == {
        "AllowPullOrganizationPaths": ("limited", ["NoA"], []),
        "AllowPullAccounts": ("limited", ["NoA"], [A]),
    }


def test_account_json_is_the_documented_shape_with_answers_worked_by_hand(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = access(audited, capsys, "--account", A, "--format", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert list(answer) == ["account", "repositories", "unresolved"]
    assert answer["account"] == A
    # A is listed in DESIRED's AllowPullAccounts and in OLD's AllowPull (so also team-foreign/old, whose
    # Lambda statement gives A nothing); ecr:* on push/app includes pull; open/app lets anyone.
    # denied/app: the Deny on BatchGetImage beats both Allows. payments/ledger does not list A.
    expected = {n: ["AllowPullAccounts"] for n, t in audited.seeded.items() if t == DESIRED} | {
        n: ["AllowPull"] for n, t in audited.seeded.items() if t == OLD
    }
    expected |= {"team-foreign/old": ["AllowPull"], "push/app": ["TeamPush"], "open/app": ["Open"]}
    assert {r["repository"]: r["statements"] for r in answer["repositories"]} == expected
    assert answer["unresolved"] == []
    assert "findings: 2 beyond-pull" in err  # findings still reported, on stderr


def test_account_in_org_path_only_is_unresolved_not_counted(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # 777788889999 is listed only by payments/ledger; DESIRED repositories also grant by OU path, and
    # without the organization we cannot say whether 7777 is in that OU: unresolved, with the reason.
    code, out, _ = access(audited, capsys, "--account", PAYMENTS_ACCOUNT, "--format", "json")
    assert code == 0
    answer = json.loads(out)
    assert answer["repositories"] == sorted(
        [
            {"repository": "open/app", "statements": ["Open"]},
            {"repository": "payments/ledger", "statements": ["AllowPull"]},
        ],
        key=lambda r: list(audited.seeded).index(r["repository"]),
    )
    desired = [n for n, t in audited.seeded.items() if t in (DESIRED, DENIED)]
    assert [u["repository"] for u in answer["unresolved"]] == desired
    assert {u["reason"] for u in answer["unresolved"]} == {
        f"AllowPullOrganizationPaths: {ORG_NOT_CONFIGURED}"
    }


def test_csv_and_fail_on(audited: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = access(audited, capsys, "--format", "csv", "--fail-on", "public")
    assert code == 2  # a public repository was found
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"registry", "repository", "type", "kind", "statement", "detail"} == set(rows[0])
    public = [r for r in rows if r["kind"] == "public"]
    assert [(r["repository"], r["statement"]) for r in public] == [("open/app", "Open")]
    grant = next(r for r in rows if r["repository"] == "payments/ledger" and r["type"] == "grant")
    assert grant["detail"] == f"* if StringEquals aws:PrincipalAccount {ACCOUNT}, {PAYMENTS_ACCOUNT}"

    # Kinds not found (outside-organization is not even checked without the organization) pass.
    assert access(audited, capsys, "--fail-on", "outside-organization,not-action")[0] == 0
    assert access(audited, capsys, "--fail-on", "not-action", "--fail-on", "no-policy")[0] == 2
    with pytest.raises(SystemExit):
        access(audited, capsys, "--fail-on", "publik")

    code, out, _ = access(audited, capsys, "--account", A, "--format", "csv", "--repository", "team-0[0-2]/*")
    assert code == 0
    assert [(r["repository"], r["verdict"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("team-00/app", "yes"),
        ("team-01/app", "yes"),
        ("team-02/app", "no"),
    ]


def test_unreadable_policy_is_an_error_and_unresolved(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    audited.ecr.configure(access_denied={"team-01/app"})
    code, out, err = access(audited, capsys, "--account", A, "--format", "json")
    assert code == 1
    assert "team-01/app" in err and "AccessDenied" in err
    unresolved = json.loads(out)["unresolved"]
    assert [u["repository"] for u in unresolved] == ["team-01/app"]
    assert "team-01/app" not in {r["repository"] for r in json.loads(out)["repositories"]}


def test_text_and_markdown(audited: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = access(audited, capsys)
    assert code == 0
    assert "  team-02/app: no policy" in out
    assert "    NoA" not in out  # Deny statements are not grants
    assert "public               main/open/app (Open): anyone may pull" in out
    assert "identity policy must allow the action too" in out
    code, out, _ = access(audited, capsys, "--format", "markdown")
    assert code == 0
    assert out.startswith("### ECR access audit")
    assert (
        f"| main | {len(audited.seeded)} | 1 | 2 | 0 | 0 | 0 | 4 | 0 |" in out
    )  # public, beyond-pull, ..., no-policy


def test_with_the_organization_an_org_path_grant_resolves_and_outside_accounts_are_found(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # 222233334444 sits in ou-ab12-prod0001, a child of ou-ab12-cdef3456: no policy lists it by account,
    # DESIRED's OU path (o-a1b2c3d4e5/*/ou-ab12-cdef3456/*) covers it.
    child = "222233334444"
    spec = replace(
        DEFAULT_ORGANIZATION, accounts=(*DEFAULT_ORGANIZATION.accounts, AccountSpec(child, "prod-2", PROD_OU))
    )
    audited.ecr.seed_organization(spec)
    outside = render_policy(ACCOUNT, PullAccess(accounts=("999999999999",)))
    audited.ecr.create_repository("partner/app", policy_text=policy_text(outside))
    policies = audited.policies / "main.yaml"
    policies.write_text(policies.read_text() + f"organization:\n  role_arn: {ORG_READ_ROLE}\n")

    code, out, err = access(audited, capsys, "--account", child, "--format", "json")
    assert code == 0, err
    answer = json.loads(out)
    by_path = [n for n, t in audited.seeded.items() if t in (DESIRED, DENIED)]
    assert {r["repository"]: r["statements"] for r in answer["repositories"]} == {
        **{name: ["AllowPullOrganizationPaths"] for name in by_path},
        "open/app": ["Open"],
    }
    assert answer["unresolved"] == []

    code, out, err = access(audited, capsys, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    (registry,) = report["registries"]
    outside_findings = {
        repo["repository"]: [f["detail"] for f in repo["findings"] if f["kind"] == "outside-organization"]
        for repo in registry["repositories"]
    }
    assert outside_findings["partner/app"] == [
        "grants pull to accounts outside organization o-a1b2c3d4e5: 999999999999"
    ]
    # Every other account the seeded policies name is a member.
    assert [name for name, found in outside_findings.items() if found] == ["partner/app"]
    assert audited.ecr.stats()["requests"]["DescribeOrganization"] == 2  # once per run


def test_an_organization_that_cannot_be_read_is_an_error_naming_the_role(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    audited.ecr.seed_organization()
    policies = audited.policies / "main.yaml"
    policies.write_text(policies.read_text() + "organization: {}\n")  # the registry account: a member
    code, _, err = access(audited, capsys)
    assert code == 1
    assert "AWS Organizations refused the run's own credentials" in err and "organization.role_arn" in err


def test_out_saves_the_json_report_from_the_same_read(
    audited: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the drift workflow does: markdown for the job summary and JSON for an artifact, one read."""
    _, as_json, _ = access(audited, capsys, "--format", "json")
    audited.ecr.reset_stats()
    out = audited.tmp / "access.json"
    code, markdown, _ = access(audited, capsys, "--format", "markdown", "--out", str(out))
    assert code == 0 and markdown.startswith("### ECR access audit")
    assert json.loads(out.read_text()) == json.loads(as_json)
    assert audited.ecr.stats()["requests"]["GetRepositoryPolicy"] == len(audited.seeded)
