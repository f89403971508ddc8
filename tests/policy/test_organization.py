"""The pure check of principals against an organization (no AWS): how OU paths match, account states,
external accounts, and the view the access audit gets."""

from __future__ import annotations

from reconciler.desired.locate import ACCOUNT, EXTERNAL_ACCOUNT, ORGANIZATION_PATH, Located
from reconciler.desired.model import OrganizationCheck
from reconciler.policy.organization import OrgAccount, Organization, OrgUnit, check_principals, org_view

ORG = Organization(
    id="o-a1b2c3d4e5",
    management_account="123456789012",
    roots=("r-ab12",),
    units={
        "ou-ab12-aaaaaaaa": OrgUnit("ou-ab12-aaaaaaaa", "a", "r-ab12"),
        "ou-ab12-bbbbbbbb": OrgUnit("ou-ab12-bbbbbbbb", "b", "ou-ab12-aaaaaaaa"),
    },
    accounts={
        "123456789012": OrgAccount("123456789012", "mgmt", "ACTIVE", "r-ab12"),
        "111122223333": OrgAccount("111122223333", "deep", "ACTIVE", "ou-ab12-bbbbbbbb"),
        "444455556666": OrgAccount("444455556666", "closing", "PENDING_CLOSURE", "ou-ab12-aaaaaaaa"),
    },
)


def located(value: str, kind: str) -> Located:
    return Located(value, kind, ("x",), "main.yaml", 1, 1)


def verdicts(*values: tuple[str, str], external: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    found = check_principals(
        [located(v, k) for v, k in values], OrganizationCheck(external_accounts=external), ORG
    )
    return [(p.message, p.error) for p in found]


def test_a_star_root_lets_the_first_ou_sit_at_any_depth_but_later_ones_must_be_children() -> None:
    assert verdicts(("o-a1b2c3d4e5/*/ou-ab12-bbbbbbbb/*", ORGANIZATION_PATH)) == []
    assert verdicts(("o-a1b2c3d4e5/*/ou-ab12-aaaaaaaa/ou-ab12-bbbbbbbb/", ORGANIZATION_PATH)) == []
    assert verdicts(("o-a1b2c3d4e5/r-ab12/ou-ab12-aaaaaaaa/ou-ab12-bbbbbbbb/*", ORGANIZATION_PATH)) == []
    ((message, error),) = verdicts(("o-a1b2c3d4e5/*/ou-ab12-bbbbbbbb/ou-ab12-aaaaaaaa/*", ORGANIZATION_PATH))
    assert error and message.startswith("ou-ab12-aaaaaaaa is not directly under ou-ab12-bbbbbbbb")


def test_accounts_members_closing_outside_and_external() -> None:
    assert verdicts(("111122223333", ACCOUNT)) == []
    ((message, error),) = verdicts(("444455556666", ACCOUNT))
    assert not error and "is closing in organization o-a1b2c3d4e5" in message
    ((message, error),) = verdicts(("999999999999", ACCOUNT))
    assert error and "999999999999 is not in organization o-a1b2c3d4e5" in message
    assert verdicts(("999999999999", ACCOUNT), external=("999999999999",)) == []
    # Listed as external but a member: worth a look, not an error.
    ((message, error),) = verdicts(("111122223333", EXTERNAL_ACCOUNT), external=("111122223333",))
    assert not error and "is a member of organization" in message


def test_the_access_view_has_every_member_and_its_principal_org_path() -> None:
    view = org_view(ORG)
    assert view.org_id == "o-a1b2c3d4e5"
    assert view.members == frozenset(ORG.accounts)
    assert view.paths["111122223333"] == ("o-a1b2c3d4e5/r-ab12/ou-ab12-aaaaaaaa/ou-ab12-bbbbbbbb/",)
    assert view.paths["123456789012"] == ("o-a1b2c3d4e5/r-ab12/",)
