"""Who may pull from one repository, from its policy alone: IAM's evaluation rules as far as ECR repository
policies use them (docs/AWS.md, "IAM evaluation"). Pure: plain data in, plain data out.

A repository policy is only half of cross-account access: the principal's own identity policy must allow
the action too. Everything here answers the repository policy's half.

- `may_pull(document, account, org)`: may principals of this account pull? yes (by which Allow statements),
  no, or unresolved (with the reasons: a condition it cannot evaluate, an organization path it does not
  know). Explicit Deny beats Allow beats the default deny, per action; a pull needs both actions.

The audit's view of a policy (its pull grants and what a security review wants to hear about) is in
`reconciler.policy.findings`; reading statements is `reconciler.policy.statements`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.policy.conditions import (
    FALSE,
    PRINCIPAL_ACCOUNT,
    PRINCIPAL_ORG_ID,
    PRINCIPAL_ORG_PATHS,
    TRUE,
    RequestContext,
    Tri,
    all_of,
    any_of,
    evaluate,
    unknown,
)
from reconciler.policy.statements import Statement, action_matches, arn_account, parse_statements

# A docker pull needs both (GetAuthorizationToken is not a repository-policy action).
PULL_NEEDS: tuple[str, ...] = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ORG_NOT_CONFIGURED = "the organization is not configured (add `organization:` to the registry file)"


class Verdict(StrEnum):
    YES = "yes"
    NO = "no"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class OrgView:
    """What AWS Organizations says about the registry's organization, as plain data.

    Filled by the organization reader (`reconciler/live/organizations.py`) when a registry file has an
    `organization:` section; None everywhere until then. `members` None: the member list is not known.
    `paths`: account id -> its aws:PrincipalOrgPaths values (`o-x/r-y/ou-a/ou-b/`); an account missing
    from it has a path we do not know.
    """

    org_id: str
    members: frozenset[str] | None = None
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """May principals of `account` pull, as far as the repository policy goes?"""

    account: str
    verdict: Verdict
    statements: tuple[str, ...] = ()  # the Allow statements that grant it (YES)
    principals: tuple[str, ...] = ()  # which principals of the account (YES): "any" or role/user ARNs
    reasons: tuple[str, ...] = ()  # why not (NO) or why it could not be decided (UNRESOLVED)


# -- principals of one account -----------------------------------------------------------------------

_ANY = ""  # the candidate "any principal of the account that the policy does not name"


def _principal_matches(statement: Statement, account: str, arn: str) -> Tri:
    """Does the statement's principal cover this principal of `account` (`arn` _ANY: an unnamed one)?"""
    if statement.not_principal is not None:
        listed = statement.not_principal
        if listed.wildcard:
            return FALSE
        if account in listed.all_accounts():
            return unknown(f"{statement.label}: NotPrincipal names principals of account {account}")
        return TRUE  # everyone but the listed, and nobody of this account is listed
    principal = statement.principal
    if principal is None:
        return unknown(f"{statement.label}: no Principal element")
    if principal.wildcard or account in principal.accounts:
        # An account id (or its root ARN) means any principal in it that its own policies let act.
        return TRUE
    return TRUE if arn != _ANY and arn in principal.arns else FALSE


def _applies(statement: Statement, account: str, arn: str, action: str, context: RequestContext) -> Tri:
    if not action_matches(statement, action):
        return FALSE
    matched = _principal_matches(statement, account, arn)
    if matched.value is False:
        return FALSE
    condition = evaluate(statement.condition, context)
    if condition.value is None:
        condition = unknown(*(f"{statement.label}: {r}" for r in condition.reasons))
    return all_of([matched, condition])


def context_for(account: str, org: OrgView | None) -> RequestContext:
    """The condition keys of a request by a principal of `account`, as far as they are known."""
    values: dict[str, tuple[str, ...]] = {PRINCIPAL_ACCOUNT: (account,)}
    missing: dict[str, str] = {}
    if org is None:
        missing = {PRINCIPAL_ORG_ID: ORG_NOT_CONFIGURED, PRINCIPAL_ORG_PATHS: ORG_NOT_CONFIGURED}
    elif org.members is not None and account not in org.members:
        # Not in the organization: both keys are absent from its requests.
        values |= {PRINCIPAL_ORG_ID: (), PRINCIPAL_ORG_PATHS: ()}
    elif account in org.paths:
        values |= {PRINCIPAL_ORG_ID: (org.org_id,), PRINCIPAL_ORG_PATHS: org.paths[account]}
    elif org.members is not None:
        values[PRINCIPAL_ORG_ID] = (org.org_id,)
        missing[PRINCIPAL_ORG_PATHS] = f"the organization path of account {account} is not known"
    else:
        reason = f"whether account {account} is in organization {org.org_id} is not known"
        missing = {PRINCIPAL_ORG_ID: reason, PRINCIPAL_ORG_PATHS: reason}
    return RequestContext(values, missing)


def _decide(statements: list[Statement], account: str, arn: str, context: RequestContext) -> Answer:
    granted: list[str] = []
    per_action: list[Tri] = []
    for action in PULL_NEEDS:
        allow_results = [
            (s, _applies(s, account, arn, action, context)) for s in statements if s.effect == "Allow"
        ]
        deny_results = [
            (s, _applies(s, account, arn, action, context)) for s in statements if s.effect == "Deny"
        ]
        denied = [s.label for s, r in deny_results if r.value is True]
        if denied:
            return Answer(account, Verdict.NO, reasons=tuple(f"denied by {d}" for d in denied))
        granted += [s.label for s, r in allow_results if r.value is True]
        allowed = any_of(r for _, r in allow_results)
        deny = any_of(r for _, r in deny_results)
        # Allowed unless a Deny applies; a Deny we cannot decide leaves the answer open.
        not_denied = FALSE if deny.value is True else TRUE if deny.value is False else deny
        per_action.append(all_of([allowed, not_denied]))
    result = all_of(per_action)
    if result.value is True:
        who = "any" if arn == _ANY else arn
        return Answer(account, Verdict.YES, tuple(dict.fromkeys(granted)), (who,))
    if result.value is None:
        return Answer(account, Verdict.UNRESOLVED, reasons=result.reasons)
    return Answer(account, Verdict.NO, reasons=("no Allow statement grants both pull actions",))


def may_pull(document: Any, account: str, org: OrgView | None = None) -> Answer:
    """May principals of `account` pull? Yes when any of them may: an unnamed principal of the account,
    or a role or user the policy names (a Deny on one role leaves the others their Allow)."""
    if document is None:
        return Answer(account, Verdict.NO, reasons=("no repository policy",))
    statements = parse_statements(document)
    context = context_for(account, org)
    named = sorted(
        {
            arn
            for s in statements
            for p in (s.principal, s.not_principal)
            if p is not None
            for arn in p.arns
            if arn_account(arn) == account
        }
    )
    answers = [_decide(statements, account, arn, context) for arn in (_ANY, *named)]
    yes = [a for a in answers if a.verdict == Verdict.YES]
    if yes:
        if yes[0].principals == ("any",):
            return yes[0]
        return Answer(
            account,
            Verdict.YES,
            tuple(dict.fromkeys(s for a in yes for s in a.statements)),
            tuple(p for a in yes for p in a.principals),
        )
    open_ = [a for a in answers if a.verdict == Verdict.UNRESOLVED]
    if open_:
        return Answer(
            account, Verdict.UNRESOLVED, reasons=tuple(dict.fromkeys(r for a in open_ for r in a.reasons))
        )
    return answers[0]
