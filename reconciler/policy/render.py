"""Render desired pull access into ECR repository policy documents.

The shapes are nullplatform's (docs/NULLPLATFORM.md, "The policies we render"): the documented
"Organization OU" policy and what its `asset/ecr` OpenTofu module renders for
`repository_policy_pull_accounts`, byte for byte in key order, so the provider config nullplatform
already holds compares equal when nothing changed.

When a registry grants both OU paths and accounts we render two statements, `AllowPullOrganizationPaths`
and `AllowPullAccounts`: IAM combines the condition blocks of one statement with AND, and we want OR
(a principal in the OU *or* in a listed account). Both Sids match the default `AllowPull*` glob.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.desired.model import CreationTemplate, PullAccess, Registry

PULL_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
)
POLICY_VERSION = "2012-10-17"
SID_SINGLE = "AllowPull"
SID_ORG_PATHS = "AllowPullOrganizationPaths"
SID_ACCOUNTS = "AllowPullAccounts"

Statement = dict[str, Any]
PolicyDocument = dict[str, Any]


def _statement(sid: str, condition: dict[str, Any]) -> Statement:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": list(PULL_ACTIONS),
        "Condition": condition,
    }


def _org_paths_condition(paths: tuple[str, ...]) -> dict[str, Any]:
    value: str | list[str] = paths[0] if len(paths) == 1 else list(paths)
    return {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": value}}


def _accounts_condition(registry_account: str, accounts: tuple[str, ...]) -> dict[str, Any]:
    ordered = list(dict.fromkeys((registry_account, *accounts)))
    return {"StringEquals": {"aws:PrincipalAccount": ordered}}


def render_statements(registry_account: str, access: PullAccess) -> list[Statement]:
    """The statements the reconciler owns for one repository (or the provider config)."""
    paths, accounts = access.organization_paths, access.accounts
    if paths and accounts:
        return [
            _statement(SID_ORG_PATHS, _org_paths_condition(paths)),
            _statement(SID_ACCOUNTS, _accounts_condition(registry_account, accounts)),
        ]
    if paths:
        return [_statement(SID_SINGLE, _org_paths_condition(paths))]
    if accounts:
        return [_statement(SID_SINGLE, _accounts_condition(registry_account, accounts))]
    return []


def render_policy(registry_account: str, access: PullAccess) -> PolicyDocument:
    return {"Version": POLICY_VERSION, "Statement": render_statements(registry_account, access)}


# ECR counts every character of `policyText` toward its 10,240 (whitespace too): written compact, one
# grant holds about twice the accounts it would indented.
COMPACT = (",", ":")


def policy_text(document: PolicyDocument) -> str:
    """Deterministic compact text for a document (same input, same bytes); key order is the document's
    own. Every policy the reconciler writes (repositories, provider config, templates) is this text."""
    return json.dumps(document, separators=COMPACT, ensure_ascii=False)


def readable_text(document: PolicyDocument) -> str:
    """The same document indented, for people (`validate --show`); never written anywhere."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def provider_policy(registry: Registry) -> PolicyDocument:
    """The policy for the nullplatform provider config: what new repositories get (the default access)."""
    return render_policy(registry.account_id, registry.pull_access)


def repository_statements(registry: Registry, repository: str) -> list[Statement]:
    return render_statements(registry.account_id, registry.access_for(repository))


def template_statements(registry: Registry, template: CreationTemplate) -> list[Statement]:
    """The statements we own in a creation template's `repositoryPolicy`: what the repositories ECR creates
    through it get (its own pull_access, else the default)."""
    return render_statements(registry.account_id, registry.template_access(template))
