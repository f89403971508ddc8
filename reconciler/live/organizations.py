"""The AWS Organizations side: read the caller's organization (roots, OUs, member accounts) once per run.

The only module that talks to Organizations. The pure check (`reconciler/policy/organization.py`) gets the
`Organization` this returns, never the client. Organizations answers its List/Describe calls only in the
management account or a delegated administrator account (docs/AWS.md, "AWS Organizations"), so a
registry file may name a read-only role there (`organization.role_arn`), assumed from the run's
credentials as `live/ecr.py` assumes the registry roles (role chaining, reconciler.live.roles).

Calls: DescribeOrganization, ListRoots, then per root and OU one ListOrganizationalUnitsForParent and one
ListAccountsForParent (more pages past 20 items): the organization is small next to a registry, and one
read serves every registry with the same role for the whole run. Every list follows NextToken to the end,
even after an empty page (Organizations may answer an empty page with a token).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
)

from reconciler.errors import CredentialsError, ReconcilerError
from reconciler.live import stop
from reconciler.live.credentials import base_session
from reconciler.live.ecr import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from reconciler.live.roles import assume, session_name
from reconciler.policy.organization import OrgAccount, Organization, OrgUnit

# Organizations is a global service served from us-east-1 (aws partition).
ORGANIZATIONS_REGION = "us-east-1"
PAGE_SIZE = 20  # the most ListAccountsForParent/ListOrganizationalUnitsForParent return per page
_DENIED = {"AccessDeniedException", "AccessDenied"}
_NOT_IN_USE = "AWSOrganizationsNotInUseException"


class OrganizationsError(ReconcilerError):
    """Organizations could not be read; `code` is AWS's error code. The message names the role."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


# botocore found no credentials, or could not load the ones configured (a profile's process, SSO, ...).
_NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


def missing_credentials(exc: Exception) -> CredentialsError:
    return CredentialsError(
        f"no AWS credentials: {exc}. Set them as for the AWS CLI (environment, AWS_PROFILE, or the "
        "workflow's role) and run again"
    )


def _who(role_arn: str | None) -> str:
    return f"role {role_arn}" if role_arn else "the run's own credentials (no organization.role_arn)"


def _error(exc: Exception, role_arn: str | None) -> OrganizationsError:
    if not isinstance(exc, ClientError):
        return OrganizationsError(
            f"AWS Organizations could not be read with {_who(role_arn)}: {type(exc).__name__}: {exc}",
            code=type(exc).__name__,
        )
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    operation = getattr(exc, "operation_name", "") or "a call"
    aws = f"{operation}: {code}: {error.get('Message') or ''}".rstrip(": ")
    if operation == "AssumeRole":
        return OrganizationsError(
            f"cannot assume organization.role_arn {role_arn} ({aws}): it must trust the workflow's role; see "
            "docs/SETUP.md, 'The Organizations role'",
            code=code,
        )
    if code in _DENIED:
        return OrganizationsError(
            f"AWS Organizations refused {_who(role_arn)} ({aws}). Organizations answers only in the "
            "management account or a delegated administrator account: set organization.role_arn to the "
            "read-only role created there (docs/SETUP.md, 'The Organizations role')",
            code=code,
        )
    if code == _NOT_IN_USE:
        return OrganizationsError(
            f"the account of {_who(role_arn)} is not in an organization ({aws}): set organization.role_arn "
            "to the read-only role in your organization's management account or delegated administrator "
            "(docs/SETUP.md, 'The Organizations role'), or remove `organization:`",
            code=code,
        )
    return OrganizationsError(f"AWS Organizations could not be read with {_who(role_arn)} ({aws})", code=code)


class OrganizationsReader:
    """Reads the organization seen through a role (None: the run's own credentials), once per role.

    One reader per run (see `run/runner.py`): its cache is the run's. Safe to share between threads.
    """

    def __init__(
        self,
        *,
        session_factory: Callable[..., boto3.session.Session] | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = 10,
    ) -> None:
        self._factory = session_factory or base_session
        self._endpoint_url = endpoint_url
        self._config = Config(
            retries={"mode": "adaptive", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra="ecr-policy-reconciler",
        )
        self._lock = threading.Lock()
        self._cache: dict[str | None, Organization | OrganizationsError] = {}
        self._calls: Counter[str] = Counter()

    def calls(self) -> dict[str, int]:
        """HTTP requests sent per Organizations action (retries included)."""
        with self._lock:
            return dict(self._calls)

    def organization(self, role_arn: str | None) -> Organization:
        """The organization, read on first use for this role; a failure is remembered too (and raised)."""
        with self._lock:
            if role_arn not in self._cache:
                try:
                    self._cache[role_arn] = self._read(role_arn)
                except _NO_CREDENTIALS as exc:
                    raise missing_credentials(exc) from exc
                except (ClientError, BotoCoreError) as exc:
                    self._cache[role_arn] = _error(exc, role_arn)
            found = self._cache[role_arn]
        if isinstance(found, OrganizationsError):
            raise found
        return found

    def _client(self, role_arn: str | None) -> Any:  # no type stubs for Organizations in the lock
        session = self._factory(region_name=ORGANIZATIONS_REGION)
        if role_arn:
            session = assume(session, role_arn, ORGANIZATIONS_REGION, session_name())
        client = session.client(
            "organizations",
            region_name=ORGANIZATIONS_REGION,
            config=self._config,
            endpoint_url=self._endpoint_url,
        )
        client.meta.events.register("before-send.organizations.*", stop.before_send_hook)
        client.meta.events.register("before-send.organizations.*", self._count)
        return client

    def _count(self, event_name: str, **_: Any) -> None:
        self._calls[event_name.rsplit(".", 1)[-1]] += 1  # under self._lock: organization() holds it

    def _read(self, role_arn: str | None) -> Organization:
        client = self._client(role_arn)
        try:
            described = client.describe_organization()["Organization"]
            roots = tuple(str(r["Id"]) for r in _pages(client.list_roots, "Roots"))
            units: dict[str, OrgUnit] = {}
            accounts: dict[str, OrgAccount] = {}
            parents = list(roots)
            while parents:
                parent = parents.pop(0)
                listing = _pages(client.list_organizational_units_for_parent, "OrganizationalUnits", parent)
                for item in listing:
                    unit = OrgUnit(str(item["Id"]), str(item.get("Name", "")), parent)
                    if unit.id not in units:
                        units[unit.id] = unit
                        parents.append(unit.id)
                for item in _pages(client.list_accounts_for_parent, "Accounts", parent):
                    # State replaces Status (retired 2026-09-09); Status's values are a subset of State's.
                    state = str(item.get("State") or item.get("Status") or "ACTIVE")
                    accounts[str(item["Id"])] = OrgAccount(
                        str(item["Id"]), str(item.get("Name", "")), state, parent
                    )
        finally:
            client.close()
        return Organization(
            id=str(described["Id"]),
            management_account=str(described.get("MasterAccountId", "")),
            roots=roots,
            units=units,
            accounts=accounts,
        )


def _pages(call: Callable[..., Any], key: str, parent: str | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a listing, following NextToken until there is none (empty pages included)."""
    arguments: dict[str, Any] = {"MaxResults": PAGE_SIZE}
    if parent is not None:
        arguments["ParentId"] = parent
    while True:
        page = call(**arguments)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return
        arguments["NextToken"] = token
