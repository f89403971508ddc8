"""The access audit of a registry: per repository, its pull grants, its findings and (with an account)
the answer for that account. Pure: built from policy texts already read."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reconciler.policy.access import ORG_NOT_CONFIGURED, Answer, OrgView, may_pull
from reconciler.policy.findings import Finding, Grant, Kind, findings, grants


@dataclass(frozen=True)
class RepositoryAccess:
    repository: str
    has_policy: bool
    grants: tuple[Grant, ...] = ()
    findings: tuple[Finding, ...] = ()
    answer: Answer | None = None  # set when the audit asks about one account
    error: str | None = None  # the policy could not be read or parsed: nothing is known


@dataclass(frozen=True)
class RegistryAccess:
    registry: str
    account_id: str
    region: str
    repositories: tuple[RepositoryAccess, ...] = ()
    error: str | None = None  # listing failed: nothing is known about this registry
    organization: OrgView | None = None

    @property
    def notes(self) -> list[str]:
        """What this audit could not check, said plainly."""
        if self.organization is None:
            return [f"grants to accounts outside the organization were not checked: {ORG_NOT_CONFIGURED}"]
        if self.organization.members is None:
            return [
                "grants to accounts outside the organization were not checked: the member list is not known"
            ]
        return []


@dataclass(frozen=True)
class AccessReport:
    registries: tuple[RegistryAccess, ...]
    account: str | None = None

    def findings(self) -> list[tuple[RegistryAccess, RepositoryAccess, Finding]]:
        return [(r, repo, f) for r in self.registries for repo in r.repositories for f in repo.findings]

    def kinds(self) -> set[Kind]:
        return {f.kind for _, _, f in self.findings()}

    def errors(self) -> list[str]:
        found = [f"registry {r.registry}: {r.error}" for r in self.registries if r.error]
        found += [
            f"{r.registry}/{repo.repository}: {repo.error}"
            for r in self.registries
            for repo in r.repositories
            if repo.error
        ]
        return found


def audit_repository(
    repository: str,
    text: str | None,
    *,
    owner: str,
    org: OrgView | None = None,
    account: str | None = None,
    error: str | None = None,
) -> RepositoryAccess:
    """One repository: `text` None means it has no policy; `error` that it could not be read."""
    if error is not None:
        return RepositoryAccess(repository, has_policy=False, error=error)
    document = None
    if text is not None:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            return RepositoryAccess(repository, has_policy=True, error=f"the policy is not valid JSON: {exc}")
    return RepositoryAccess(
        repository,
        has_policy=document is not None,
        grants=tuple(grants(document)) if document is not None else (),
        findings=tuple(findings(document, owner, org)),
        answer=may_pull(document, account, org) if account is not None else None,
    )
