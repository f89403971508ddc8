"""AWS Organizations as plain data, and the check of a registry's principals against it. Pure: no boto3.

`reconciler/live/organizations.py` reads the organization once per run and hands it here as an
`Organization`; the check says, for each account and OU path a registry file names, whether it resolves.

How an OU path matches (IAM User Guide, "aws:PrincipalOrgPaths"; docs/AWS.md, "IAM evaluation"): a
principal's value is `o-x/r-y/ou-a/ou-b/` (its account's chain of parents), and StringLike's `*` matches any
run of characters, `/` included. So in `o-x/*/ou-a/ou-b/*` the `*` root stands for the root and any OUs above
ou-a (ou-a may sit at any depth), while every OU after the first must be a direct child of the one before;
an explicit root (`o-x/r-y/ou-a/*`) makes ou-a a direct child of that root.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from reconciler.desired.locate import ACCOUNT, EXTERNAL_ACCOUNT, ORGANIZATION_PATH, Located
from reconciler.desired.model import OrganizationCheck
from reconciler.policy.access import OrgView

ACTIVE = "ACTIVE"
# Account.State (Status, retired 2026-09-09, had ACTIVE, SUSPENDED, PENDING_CLOSURE).
_NOT_ACTIVE = {"SUSPENDED": "suspended", "PENDING_CLOSURE": "closing", "CLOSED": "closed"}


@dataclass(frozen=True)
class OrgUnit:
    id: str
    name: str
    parent_id: str  # a root (r-...) or another OU


@dataclass(frozen=True)
class OrgAccount:
    id: str
    name: str
    state: str  # ACTIVE | SUSPENDED | PENDING_CLOSURE | CLOSED
    parent_id: str


@dataclass(frozen=True)
class Organization:
    """The whole organization: its id, roots, OUs and member accounts, each with its parent."""

    id: str
    management_account: str
    roots: tuple[str, ...]
    units: dict[str, OrgUnit] = field(default_factory=dict)
    accounts: dict[str, OrgAccount] = field(default_factory=dict)

    def chain(self, parent_id: str) -> tuple[str, ...]:
        """The ids from the root down to `parent_id` (a root or an OU)."""
        ids: list[str] = []
        current: str | None = parent_id
        while current is not None and current not in ids:  # a cycle cannot happen; never loop anyway
            ids.append(current)
            unit = self.units.get(current)
            current = unit.parent_id if unit else None
        return tuple(reversed(ids))

    def principal_org_path(self, account: str) -> str | None:
        """The account's aws:PrincipalOrgPaths value, `o-x/r-y/ou-a/`; None for a non-member."""
        member = self.accounts.get(account)
        if member is None:
            return None
        return "/".join((self.id, *self.chain(member.parent_id))) + "/"


def org_view(organization: Organization) -> OrgView:
    """What the access evaluator needs: the members and each one's organization path."""
    paths: dict[str, tuple[str, ...]] = {}
    for account in organization.accounts:
        path = organization.principal_org_path(account)
        if path is not None:
            paths[account] = (path,)
    return OrgView(org_id=organization.id, members=frozenset(organization.accounts), paths=paths)


@dataclass(frozen=True)
class PrincipalProblem:
    """A value that does not resolve (`error`) or that resolves to something to look at (`warning`)."""

    located: Located
    message: str
    error: bool = True


def _path_problem(path: str, organization: Organization) -> str | None:
    """Why an organization path does not resolve in `organization`, or None. The path passed validation."""
    segments = path.split("/")
    org_id, root, units = segments[0], segments[1], segments[2:-1]
    if org_id != organization.id:
        return f"{org_id} is not your organization: the credentials read organization {organization.id}"
    if root != "*" and root not in organization.roots:
        roots = ", ".join(organization.roots)
        return f"{root} is not the root of organization {organization.id} (its root is {roots})"
    for unit_id in units:
        if unit_id not in organization.units:
            return f"{unit_id} is not in organization {organization.id}"
    first = organization.units[units[0]]
    if root != "*" and first.parent_id != root:
        return f"{first.id} is not directly under root {root}: it is under {_where(first, organization)}"
    for parent_id, unit_id in pairwise(units):
        unit = organization.units[unit_id]
        if unit.parent_id != parent_id:
            return (
                f"{unit_id} is not directly under {parent_id}: it is under {_where(unit, organization)}, "
                f"so this path matches nobody"
            )
    return None


def _where(unit: OrgUnit, organization: Organization) -> str:
    return "/".join((organization.id, *organization.chain(unit.parent_id))) + "/"


def check_principals(
    values: Iterable[Located], check: OrganizationCheck, organization: Organization
) -> list[PrincipalProblem]:
    """Every problem of the registry's accounts and OU paths against the organization, in file order."""
    external = frozenset(check.external_accounts)
    problems: list[PrincipalProblem] = []
    for value in values:
        if value.kind == ORGANIZATION_PATH:
            reason = _path_problem(value.value, organization)
            if reason:
                problems.append(PrincipalProblem(value, reason))
            continue
        member = organization.accounts.get(value.value)
        if value.kind == EXTERNAL_ACCOUNT:
            if member is not None:
                problems.append(
                    PrincipalProblem(
                        value,
                        f"account {value.value} is listed in external_accounts but is a member of "
                        f"organization {organization.id}",
                        error=False,
                    )
                )
            continue
        if value.kind != ACCOUNT:
            continue
        if member is None:
            if value.value not in external:
                problems.append(
                    PrincipalProblem(
                        value,
                        f"account {value.value} is not in organization {organization.id} (if it is meant to "
                        "be outside it, list it in organization.external_accounts)",
                    )
                )
            continue
        state = _NOT_ACTIVE.get(member.state)
        if state:
            problems.append(
                PrincipalProblem(
                    value,
                    f"account {value.value} ({member.name}) is {state} in organization {organization.id}: "
                    "its principals cannot pull while it is",
                    error=False,
                )
            )
    return problems
