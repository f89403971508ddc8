"""AWS Organizations on the same endpoint: moto's organizations behind a layer that adds what moto lacks
(docs/AWS.md, "AWS Organizations"), and seeding of an organization with fixed ids.

- Who may ask: moto answers List/Describe calls in a member account with NotFound, and never AccessDenied.
  Real Organizations answers DescribeOrganization in any member account, everything else only in the
  management account (or a delegated administrator): the layer answers `AccessDeniedException` to a member
  and `AWSOrganizationsNotInUseException` to an account outside any organization.
- Faults: the knob `organizations_fault` ("AccessDeniedException" or "AWSOrganizationsNotInUseException")
  answers every Organizations call with that error.
- Calls are counted with the ECR calls (`requests` per action: ListRoots, ListAccountsForParent...).

moto gives random ids (`o-`, `r-`, `ou-`, 12-digit accounts); `seed_organization` creates the organization
and then gives every object the id the spec names, so it matches the shipped `policies/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.ecr.backend import caller
from reconciler.sandbox.ecr.call import Answer, EcrCall, Handler, SandboxError
from reconciler.sandbox.ecr.config import DEFAULT_ACCOUNT_ID
from reconciler.sandbox.ecr.counters import Counters

ORGANIZATIONS_TARGET_PREFIX = "AWSOrganizationsV20161128."
ACCESS_DENIED = "AccessDeniedException"
NOT_IN_USE = "AWSOrganizationsNotInUseException"
_MESSAGES = {
    ACCESS_DENIED: "You don't have permissions to access this resource.",
    NOT_IN_USE: "Your account is not a member of an organization.",
}
# Answered in any member account; every other call only in the management account.
_ANY_MEMBER = frozenset({"DescribeOrganization", "LeaveOrganization"})
_PARTITION = "aws"


def _backends() -> Any:
    from moto.organizations.models import organizations_backends

    return organizations_backends


class OrganizationsRules:
    """The layer: injected faults, then who may ask what (management account, member, outsider)."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def __call__(self, call: EcrCall, following: Handler) -> Answer:
        fault = call.config.organizations_fault
        if fault:
            self._counters.injected_fault(fault)
            raise SandboxError(fault, _MESSAGES.get(fault, fault))
        account, _ = caller(call.environ)
        role = membership(account)
        if role is None:
            raise SandboxError(NOT_IN_USE, _MESSAGES[NOT_IN_USE])
        if role == "member" and call.action not in _ANY_MEMBER:
            raise SandboxError(ACCESS_DENIED, _MESSAGES[ACCESS_DENIED])
        return following(call)


def membership(account: str) -> str | None:
    """ "management", "member" or None (in no organization).

    moto's reset leaves its member -> management map behind, so a member counts only while the
    organization it points to still exists and still lists it.
    """
    backends = _backends()
    if backends[account][_PARTITION].org is not None:
        return "management"
    owner = backends.master_accounts.get(account)
    if owner is None:
        return None
    backend = backends[owner[0]][owner[1]]
    if backend.org is not None and any(member.id == account for member in backend.accounts):
        return "member"
    return None


@dataclass(frozen=True)
class OrgUnitSpec:
    id: str  # ou-[a-z0-9]{4}-[a-z0-9]{8} (moto's format)
    name: str
    parent: str  # the root's id or an OU's


@dataclass(frozen=True)
class AccountSpec:
    id: str
    name: str
    parent: str
    state: str = "ACTIVE"  # ACTIVE | SUSPENDED | PENDING_CLOSURE


@dataclass(frozen=True)
class OrganizationSpec:
    id: str
    root: str
    units: tuple[OrgUnitSpec, ...]
    accounts: tuple[AccountSpec, ...]
    management_account: str = DEFAULT_ACCOUNT_ID


MANAGEMENT_ACCOUNT = "210987654321"
# A read-only role in the management account, for `organization.role_arn` (moto's STS assumes any role).
ORG_READ_ROLE = f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/ecr-policy-reconciler-org-read"
ORG_ID = "o-a1b2c3d4e5"
ROOT_ID = "r-ab12"
WORKLOADS_OU = "ou-ab12-wrkl0001"
CLUSTERS_OU = "ou-ab12-cdef3456"  # the OU the shipped policies/ grants (o-a1b2c3d4e5/*/ou-ab12-cdef3456/*)
PROD_OU = "ou-ab12-prod0001"
PAYMENTS_OU = "ou-ab12-paym0001"
SANDBOX_OU = "ou-ab12-sbox0001"
SHARED_OU = "ou-ab12-shrd0001"
SUSPENDED_ACCOUNT = "555566667777"
OUTSIDE_ACCOUNT = "999999999999"  # in no organization

# Nested OUs and members matching policies/main.yaml and the demo: root > workloads > clusters > prod.
# As usual, the registry's account (123456789012) is a member, not the management account: Organizations
# answers it DescribeOrganization only, so the policies name ORG_READ_ROLE.
DEFAULT_ORGANIZATION = OrganizationSpec(
    id=ORG_ID,
    root=ROOT_ID,
    management_account=MANAGEMENT_ACCOUNT,
    units=(
        OrgUnitSpec(SHARED_OU, "shared-services", ROOT_ID),
        OrgUnitSpec(WORKLOADS_OU, "workloads", ROOT_ID),
        OrgUnitSpec(CLUSTERS_OU, "clusters", WORKLOADS_OU),
        OrgUnitSpec(PROD_OU, "prod", CLUSTERS_OU),
        OrgUnitSpec(PAYMENTS_OU, "payments", WORKLOADS_OU),
        OrgUnitSpec(SANDBOX_OU, "sandbox", ROOT_ID),
    ),
    accounts=(
        AccountSpec(DEFAULT_ACCOUNT_ID, "registry", SHARED_OU),
        AccountSpec("111122223333", "clusters-shared", CLUSTERS_OU),
        AccountSpec("444455556666", "clusters-prod", PROD_OU),
        AccountSpec("777788889999", "payments", PAYMENTS_OU),
        AccountSpec(SUSPENDED_ACCOUNT, "old-sandbox", SANDBOX_OU, state="SUSPENDED"),
    ),
)


def seed_organization(spec: OrganizationSpec = DEFAULT_ORGANIZATION) -> None:
    """Create the organization in moto, managed from `spec.management_account`, with the ids the spec
    names. Call after a reset (an account can manage one organization)."""
    backends = _backends()
    for account in [a for a in backends.master_accounts if membership(a) is None]:
        backends.master_accounts.pop(account)  # left behind by an earlier reset
    backend = backends[spec.management_account][_PARTITION]
    backend.create_organization(region="us-east-1", FeatureSet="ALL")
    organization = backend.org
    root = next(unit for unit in backend.ou if unit.id == organization.root_id)
    organization.id, organization.root_id, root.id = spec.id, spec.root, spec.root
    root.organization_id = spec.id
    for account in backend.accounts:  # the management account
        account.organization_id = spec.id
        account.parent_id = spec.root
    for unit in spec.units:
        created = backend.create_organizational_unit(ParentId=unit.parent, Name=unit.name)
        made = next(u for u in backend.ou if u.id == created["OrganizationalUnit"]["Id"])
        made.id, made.organization_id = unit.id, spec.id
    for account in spec.accounts:
        status = backend.create_account(AccountName=account.name, Email=f"{account.name}@example.com")
        made = backend.get_account_by_id(status["CreateAccountStatus"]["AccountId"])
        backends.master_accounts.pop(made.id, None)
        made.id, made.organization_id, made.parent_id = account.id, spec.id, account.parent
        made.state = account.state
        made.status = "SUSPENDED" if account.state != "ACTIVE" else "ACTIVE"
        backends.master_accounts[account.id] = (spec.management_account, _PARTITION)
