"""Typed, validated desired state. Built only by `reconciler.desired.build`; pure data afterwards."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase

DEFAULT_MANAGED_SIDS: tuple[str, ...] = ("AllowPull*",)
# A creation template's special prefix and its `appliedFor` values, as ECR states them (botocore `ecr`
# model; docs/AWS.md, "Repository creation templates"). This order is the one plans and requests use.
ROOT_PREFIX = "ROOT"
APPLIED_FOR: tuple[str, ...] = ("REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH")


def applied_for_order(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`appliedFor` is a set: one order for every copy of it (unknown values last, as read)."""
    unique = list(dict.fromkeys(values))
    return tuple(
        sorted(unique, key=lambda v: (APPLIED_FOR.index(v) if v in APPLIED_FOR else len(APPLIED_FOR), v))
    )


@dataclass(frozen=True)
class PullAccess:
    """Who may pull: AWS Organizations OU paths and/or account ids (12-digit strings)."""

    organization_paths: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Override:
    """Different access for the repositories matching any of `repositories` (fnmatch globs)."""

    repositories: tuple[str, ...]
    pull_access: PullAccess
    line: int = 0

    def matches(self, repository: str) -> bool:
        return any(fnmatchcase(repository, pattern) for pattern in self.repositories)


@dataclass(frozen=True)
class CreationTemplate:
    """An ECR repository creation template whose `repositoryPolicy` (and `appliedFor`) we keep in line.

    `prefix` is ECR's: ROOT, or the start of a repository name (ECR assumes a `/` after it). `pull_access`
    None means the registry's default access, as for the provider config.
    """

    prefix: str
    applied_for: tuple[str, ...]
    pull_access: PullAccess | None = None
    line: int = 0


@dataclass(frozen=True)
class NullplatformTarget:
    """The Asset Repository ECR provider whose `attributes.setup.policy` we keep in sync."""

    nrn: str
    provider_id: str | None = None


@dataclass(frozen=True)
class OrganizationCheck:
    """`organization:`: check every account and OU path against AWS Organizations before planning or
    applying. `role_arn` (optional) is assumed from the run's credentials to read Organizations (which
    answers only in the management account or a delegated administrator); `external_accounts` are accounts
    deliberately outside the organization."""

    role_arn: str | None = None
    external_accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    """One ECR registry (account + region) and the access its repositories should grant."""

    name: str
    account_id: str
    region: str
    pull_access: PullAccess
    # Assumed by the commands that only read (plan, access, the dry runs, drift) and by those that write
    # (apply, backfill, restore, self-heal: for every call, reads included). None: the run's credentials.
    read_role_arn: str | None = None
    write_role_arn: str | None = None
    nullplatform: NullplatformTarget | None = None
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()
    managed_sids: tuple[str, ...] = DEFAULT_MANAGED_SIDS
    source: str = field(default="", compare=False)
    organization: OrganizationCheck | None = None  # None: principals are not checked against Organizations
    creation_templates: tuple[CreationTemplate, ...] = ()
    # Remove deleted principals' unique ids from foreign statements (reconciler.policy.deleted).
    remove_deleted_principals: bool = False

    def role_for(self, *, write: bool) -> str | None:
        """The role a run assumes for this registry: the write role for a run that writes, else the read
        role. Never the other: a reading run must not hold credentials that write."""
        return self.write_role_arn if write else self.read_role_arn

    def selects(self, repository: str) -> bool:
        """True when the repository is managed: matched by an include glob and by no exclude glob."""
        return any(fnmatchcase(repository, p) for p in self.include) and not any(
            fnmatchcase(repository, p) for p in self.exclude
        )

    def access_for(self, repository: str) -> PullAccess:
        """The override matching the repository (validation guarantees at most one), else the default."""
        for override in self.overrides:
            if override.matches(repository):
                return override.pull_access
        return self.pull_access

    def template_access(self, template: CreationTemplate) -> PullAccess:
        """A template's own access, else the default (what the provider config gives new repositories)."""
        return template.pull_access or self.pull_access

    def owns_sid(self, sid: str | None) -> bool:
        """Statements whose Sid matches a managed_sids glob are the reconciler's; all others are foreign."""
        return sid is not None and any(fnmatchcase(sid, pattern) for pattern in self.managed_sids)


@dataclass(frozen=True)
class DesiredState:
    registries: tuple[Registry, ...]

    def registry(self, name: str) -> Registry:
        for registry in self.registries:
            if registry.name == name:
                return registry
        known = ", ".join(r.name for r in self.registries) or "none"
        from reconciler.errors import ReconcilerError

        raise ReconcilerError(f"unknown registry {name!r} (known: {known})")

    def fingerprint(self) -> str:
        """A digest of the meaning of the desired state (not of file bytes: comments don't count)."""
        return registry_fingerprint(*self.registries)


def registry_fingerprint(*registries: Registry) -> str:
    payload = [asdict(r) | {"source": None} for r in sorted(registries, key=lambda r: r.name)]
    for item in payload:
        for override in item["overrides"]:
            override["line"] = 0
        if item.get("organization") is None:
            item.pop("organization", None)  # registries without the key keep the fingerprint they had
        if not item.get("remove_deleted_principals"):
            item.pop("remove_deleted_principals", None)  # as for organization: fingerprints stay put
        for template in item["creation_templates"]:
            template["line"] = 0
        if not item["creation_templates"]:
            # Registries without templates keep the fingerprint they had before templates existed.
            del item["creation_templates"]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    return "sha256:" + digest.hexdigest()
