"""What the access audit reports about one repository policy. Pure: plain data in, plain data out.

- `grants(document)`: every Allow statement that grants pull, with whom it names and what Deny statements
  take away from it.
- `findings(document, owner, org)`: what a security review wants to hear about.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.policy.access import PULL_NEEDS, OrgView, Verdict, may_pull
from reconciler.policy.conditions import PRINCIPAL_ACCOUNT, condition_values, parse_operator, static_problems
from reconciler.policy.deleted import deleted_principals
from reconciler.policy.restriction import restricts
from reconciler.policy.statements import (
    ACCOUNT_ID,
    Principals,
    Statement,
    action_matches,
    arn_account,
    parse_statements,
)

# Read-only repository actions: granting these to another account is "pull", not more.
READ_ACTIONS = frozenset(
    a.lower()
    for a in (
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
        "ecr:ListImages",
        "ecr:GetRepositoryPolicy",
        "ecr:DescribeImageScanFindings",
        "ecr:GetLifecyclePolicy",
        "ecr:GetLifecyclePolicyPreview",
        "ecr:ListTagsForResource",
        "ecr:BatchGetRepositoryScanningConfiguration",
    )
)
# Repository actions beyond pull, by what they let another account do.
BEYOND_PULL: dict[str, tuple[str, ...]] = {
    "push": (
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:ReplicateImage",
        "ecr:BatchImportUpstreamImage",
    ),
    "delete": ("ecr:BatchDeleteImage", "ecr:DeleteRepository", "ecr:DeleteLifecyclePolicy"),
    "policy changes": ("ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"),
    "settings": (
        "ecr:PutLifecyclePolicy",
        "ecr:PutImageTagMutability",
        "ecr:PutImageScanningConfiguration",
        "ecr:StartImageScan",
        "ecr:StartLifecyclePolicyPreview",
        "ecr:TagResource",
        "ecr:UntagResource",
    ),
}


@dataclass(frozen=True)
class Grant:
    """One Allow statement that grants pull, and what Deny statements take away from it."""

    statement: str
    principals: tuple[str, ...]  # readable: "*", "account ID", ARNs, "service NAME", "not: ..."
    conditions: tuple[str, ...]  # readable: "ForAnyValue:StringLike aws:PrincipalOrgPaths o-x/*/ou-y/*"
    status: str  # "effective", "limited" (a Deny may take part of it away) or "revoked" (all of it)
    denied_by: tuple[str, ...] = ()
    not_evaluated: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()  # the accounts it names (principal or aws:PrincipalAccount)
    denied_accounts: tuple[str, ...] = ()  # of those, the ones a Deny shuts out of pull entirely

    @property
    def audience(self) -> str:
        who = ", ".join(self.principals)
        return f"{who} if {' and '.join(self.conditions)}" if self.conditions else who


class Kind(StrEnum):
    PUBLIC = "public"
    BEYOND_PULL = "beyond-pull"
    NOT_PRINCIPAL = "not-principal"
    NOT_ACTION = "not-action"
    OUTSIDE_ORGANIZATION = "outside-organization"
    NO_POLICY = "no-policy"
    DELETED_PRINCIPAL = "deleted-principal"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    statement: str | None
    detail: str


def _readable_conditions(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return [] if condition is None else [str(condition)]
    lines: list[str] = []
    for name, clauses in condition.items():
        if not isinstance(clauses, dict):
            lines.append(f"{name} {clauses}")
            continue
        for key, raw in clauses.items():
            values = condition_values(raw) or [str(raw)]
            lines.append(f"{name} {key} {', '.join(values)}")
    return lines


def _condition_accounts(condition: Any) -> set[str]:
    """Accounts a positive aws:PrincipalAccount condition names (literal values only)."""
    found: set[str] = set()
    if not isinstance(condition, dict):
        return found
    for name, clauses in condition.items():
        operator = parse_operator(str(name))
        if operator is None or not isinstance(clauses, dict):
            continue
        for key, raw in clauses.items():
            if str(key).lower() == PRINCIPAL_ACCOUNT:
                found |= {v for v in condition_values(raw) or [] if ACCOUNT_ID.match(v)}
    return found


def _named_accounts(statement: Statement) -> set[str]:
    named = _condition_accounts(statement.condition)
    if statement.principal is not None:
        named |= statement.principal.all_accounts() - {""}
    return named


def _restricted(statement: Statement) -> bool:
    """True when a condition ties the statement to accounts or an organization: the guard's own test
    (reconciler.policy.restriction: pinned shapes only), so what the audit calls public is what the guard
    refuses to write."""
    return restricts(statement.condition)


def _grants_pull(statement: Statement) -> bool:
    return statement.effect == "Allow" and all(action_matches(statement, a) for a in PULL_NEEDS)


def _deny_effect(allow: Statement, deny: Statement) -> str:
    """How a Deny bears on an Allow's pull grant: "revoked" (all of it), "limited" (perhaps part), ""."""
    if not any(action_matches(deny, a) for a in PULL_NEEDS):
        return ""
    if deny.not_principal is not None:
        return "limited"
    denied = deny.principal
    granted = allow.principal
    if denied is None:
        return "limited"
    if denied.wildcard:
        covers = True
    elif granted is None or granted.wildcard or allow.not_principal is not None:
        covers = False
        if not (denied.accounts or denied.arns):
            return ""  # only services (or principals that match nobody) are denied
    else:
        wanted = set(granted.accounts) | set(granted.arns)

        def hit(item: str) -> bool:
            return item in denied.accounts or item in denied.arns or arn_account(item) in denied.accounts

        hits = {item for item in wanted if hit(item)}
        touches = bool(hits) or bool(denied.all_accounts() & granted.all_accounts())
        if not touches:
            return ""
        covers = hits == wanted and not granted.services
    return "revoked" if covers and not deny.condition else "limited"


def _denied(document: Any, account: str) -> bool:
    answer = may_pull(document, account)
    return answer.verdict == Verdict.NO and any(r.startswith("denied by ") for r in answer.reasons)


def grants(document: Any) -> list[Grant]:
    """Every Allow statement that grants pull (both actions), net of the Deny statements."""
    statements = parse_statements(document)
    denies = [s for s in statements if s.effect == "Deny"]
    result: list[Grant] = []
    for statement in statements:
        if not _grants_pull(statement):
            continue
        effects = {d.label: _deny_effect(statement, d) for d in denies}
        revoked = [label for label, effect in effects.items() if effect == "revoked"]
        limited = [label for label, effect in effects.items() if effect == "limited"]
        named = sorted(_named_accounts(statement))
        # The accounts this statement names that a Deny shuts out entirely (the grant's net effect).
        shut_out = [a for a in named if limited and _denied(document, a)]
        principal = statement.not_principal or statement.principal or Principals()
        who = principal.readable()
        if statement.not_principal is not None:
            who = ["* except " + ", ".join(who)]
        result.append(
            Grant(
                statement=statement.label,
                principals=tuple(who),
                conditions=tuple(_readable_conditions(statement.condition)),
                status="revoked" if revoked else "limited" if limited else "effective",
                denied_by=tuple(revoked or limited),
                not_evaluated=tuple(static_problems(statement.condition)),
                accounts=tuple(named),
                denied_accounts=tuple(shut_out),
            )
        )
    return result


def _beyond_pull(statement: Statement, denied_by: tuple[Statement, ...] = ()) -> list[str]:
    """What, beyond pull, the statement's actions let a principal do: ["push", "delete", ...]. `denied_by`:
    Deny statements that apply to every principal of the statement (they revoke its pull grant): actions
    they also deny are not counted."""
    if statement.not_action:
        return ["everything but " + ", ".join(statement.actions)]

    def granted(action: str) -> bool:
        return action_matches(statement, action) and not any(action_matches(d, action) for d in denied_by)

    kinds = [kind for kind, actions in BEYOND_PULL.items() if any(granted(a) for a in actions)]
    ecr_other = [
        a for a in statement.actions if a.lower().startswith("ecr:") and "*" not in a and "?" not in a
    ]
    unknown_actions = [
        a
        for a in ecr_other
        if a.lower() not in READ_ACTIONS
        and not any(a.lower() == b.lower() for v in BEYOND_PULL.values() for b in v)
        and granted(a)
    ]
    return kinds + (["other: " + ", ".join(unknown_actions)] if unknown_actions else [])


def _cross_account(statement: Statement, owner: str | None) -> bool:
    """May the statement's principal be in another account than the registry's?"""
    if statement.not_principal is not None:
        return True
    principal = statement.principal
    if principal is None:
        return False
    if principal.wildcard:
        accounts = _condition_accounts(statement.condition)
        return not (owner is not None and accounts == {owner} and _restricted(statement))
    return bool(principal.all_accounts() - {owner, ""})


def findings(document: Any, owner: str | None = None, org: OrgView | None = None) -> list[Finding]:
    """What a review of this policy should hear about. `owner`: the registry's account."""
    if document is None:
        return [Finding(Kind.NO_POLICY, None, "no repository policy")]
    statements = parse_statements(document)
    by_label = {g.statement: g for g in grants(document)}
    found: list[Finding] = []
    for statement in statements:
        label = statement.label
        if statement.not_principal is not None:
            found.append(Finding(Kind.NOT_PRINCIPAL, label, f"{statement.effect} with NotPrincipal"))
        if statement.not_action:
            found.append(Finding(Kind.NOT_ACTION, label, f"{statement.effect} with NotAction"))
        if statement.effect != "Allow":
            continue
        grant = by_label.get(label)
        # A Deny that takes the statement's pull away leaves it whatever else it grants: only the
        # pull-related findings go.
        revoked = grant is not None and grant.status == "revoked"
        denied_by = grant.denied_by if grant is not None and revoked else ()
        revoking = tuple(d for d in statements if d.effect == "Deny" and d.label in denied_by)
        extra = _beyond_pull(statement, revoking)
        wildcard = statement.not_principal is not None or (
            statement.principal is not None and statement.principal.wildcard
        )
        if (
            wildcard
            and not _restricted(statement)
            and (statement.actions or statement.not_action)
            and (extra or not revoked)
        ):
            why = "no account or organization condition"
            if revoked:
                what, why = "; ".join(extra), f"{why}; pull is denied by {', '.join(denied_by)}"
            else:
                what = "pull" if _grants_pull(statement) else ", ".join(statement.actions)
            found.append(Finding(Kind.PUBLIC, label, f"anyone may {what} ({why})"))
        if extra and _cross_account(statement, owner):
            found.append(Finding(Kind.BEYOND_PULL, label, "other accounts may " + "; ".join(extra)))
        if org is not None and org.members is not None and grant is not None and not revoked:
            outside = sorted(set(grant.accounts) - set(org.members) - {owner or ""})
            if outside:
                found.append(
                    Finding(
                        Kind.OUTSIDE_ORGANIZATION,
                        label,
                        f"grants pull to accounts outside organization {org.org_id}: {', '.join(outside)}",
                    )
                )
    # Any statement, ours or not (the audit does not know managed_sids): the policy cannot be stored again.
    for deleted in deleted_principals(document, lambda _sid: False):
        element = "NotPrincipal" if deleted.not_principal else "Principal"
        detail = (
            f"{element} names {deleted.unique_id}, the unique id of a deleted IAM role or user: it matches "
            "nobody, and ECR refuses every write to this policy until it is removed"
        )
        found.append(Finding(Kind.DELETED_PRINCIPAL, deleted.statement, detail))
    return found
