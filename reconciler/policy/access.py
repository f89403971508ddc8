"""Who may pull from one repository, from its policy alone: IAM's evaluation rules as far as ECR repository
policies use them (../shared/reference.md, "IAM evaluation"). Pure: plain data in, plain data out.

A repository policy is only half of cross-account access: the principal's own identity policy must allow
the action too. Everything here answers the repository policy's half.

- `may_pull(document, account, org)`: may principals of this account pull? yes (by which Allow statements),
  no, or unresolved (with the reasons: a condition it cannot evaluate, an organization path it does not
  know). Explicit Deny beats Allow beats the default deny, per action; a pull needs both actions.
- `grants(document)`: every Allow statement that grants pull, with whom it names and what Deny statements
  take away from it.
- `findings(document, owner, org)`: what a security review wants to hear about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
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
    condition_values,
    evaluate,
    parse_operator,
    static_problems,
    unknown,
)
from reconciler.policy.normalize import statements_of
from reconciler.policy.restriction import restricts

# A docker pull needs both (GetAuthorizationToken is not a repository-policy action).
PULL_NEEDS: tuple[str, ...] = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
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
ORG_NOT_CONFIGURED = "the organization is not configured (add `organization:` to the registry file)"

_ACCOUNT = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:[a-z-]+:(?:iam|sts)::(\d{12}):(.+)$")


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


@dataclass(frozen=True)
class Finding:
    kind: Kind
    statement: str | None
    detail: str


# -- statements --------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class _Principals:
    """A Principal (or NotPrincipal) element, sorted into what it names."""

    wildcard: bool = False
    accounts: frozenset[str] = frozenset()  # whole accounts: `ID` or `arn:...:root`
    arns: frozenset[str] = frozenset()  # roles, users, sessions
    services: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # Federated, CanonicalUser, unique ids (AROA...), anything else

    def all_accounts(self) -> set[str]:
        return set(self.accounts) | {_arn_account(a) for a in self.arns}

    def readable(self) -> list[str]:
        if self.wildcard:
            return ["*"]
        return (
            [f"account {a}" for a in sorted(self.accounts)]
            + sorted(self.arns)
            + [f"service {s}" for s in self.services]
            + list(self.others)
        )


def _arn_account(arn: str) -> str:
    match = _ARN.match(arn)
    return match.group(1) if match else ""


def _principals(value: Any) -> _Principals:
    # Read as the guard reads it (guard.is_wildcard_principal): anything but an object of principal lists,
    # and any value with a wildcard in it (`arn:aws:iam::*:root`, `" *"`), is everyone.
    if not isinstance(value, dict) or any(
        not isinstance(v, str) or "*" in v or "?" in v for values in value.values() for v in _as_list(values)
    ):
        return _Principals(wildcard=True)
    accounts: set[str] = set()
    arns: set[str] = set()
    services: list[str] = []
    others: list[str] = []
    for kind, values in value.items():
        for item in _as_list(values):
            text = str(item)
            if kind == "AWS":
                match = _ARN.match(text)
                if _ACCOUNT.match(text):
                    accounts.add(text)
                elif match and match.group(2) == "root":
                    accounts.add(match.group(1))
                elif match:
                    arns.add(text)
                else:
                    # A deleted role's ARN is stored as its unique id (AROA...): it matches nobody.
                    others.append(f"unknown principal {text}")
            elif kind == "Service":
                services.append(text)
            else:
                others.append(f"{kind} {text}")
    return _Principals(False, frozenset(accounts), frozenset(arns), tuple(services), tuple(others))


@dataclass(frozen=True)
class _Statement:
    label: str
    effect: str
    principal: _Principals | None  # None: no Principal element
    not_principal: _Principals | None
    actions: tuple[str, ...]
    not_action: bool
    condition: Any


def parse_statements(document: Any) -> list[_Statement]:
    """The well-formed statements of a policy; a statement that is not an object is skipped."""
    parsed: list[_Statement] = []
    for index, raw in enumerate(statements_of(document)):
        if not isinstance(raw, dict):
            continue
        sid = raw.get("Sid")
        not_action = "NotAction" in raw
        parsed.append(
            _Statement(
                label=str(sid) if sid else f"statement {index + 1}",
                effect=str(raw.get("Effect", "")),
                principal=_principals(raw["Principal"]) if "Principal" in raw else None,
                not_principal=_principals(raw["NotPrincipal"]) if "NotPrincipal" in raw else None,
                actions=tuple(str(a) for a in _as_list(raw.get("NotAction" if not_action else "Action", []))),
                not_action=not_action,
                condition=raw.get("Condition"),
            )
        )
    return parsed


@lru_cache(maxsize=4096)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _action_matches(statement: _Statement, action: str) -> bool:
    """Actions are case-insensitive and take `*` and `?`; NotAction is every action but those listed."""
    hit = any(_action_pattern(p).fullmatch(action) for p in statement.actions)
    return not hit if statement.not_action else hit


# -- principals of one account -----------------------------------------------------------------------

_ANY = ""  # the candidate "any principal of the account that the policy does not name"


def _principal_matches(statement: _Statement, account: str, arn: str) -> Tri:
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


def _applies(statement: _Statement, account: str, arn: str, action: str, context: RequestContext) -> Tri:
    if not _action_matches(statement, action):
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


def _decide(statements: list[_Statement], account: str, arn: str, context: RequestContext) -> Answer:
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
            if _arn_account(arn) == account
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


# -- grants and findings -----------------------------------------------------------------------------


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
                found |= {v for v in condition_values(raw) or [] if _ACCOUNT.match(v)}
    return found


def _named_accounts(statement: _Statement) -> set[str]:
    named = _condition_accounts(statement.condition)
    if statement.principal is not None:
        named |= statement.principal.all_accounts() - {""}
    return named


def _restricted(statement: _Statement) -> bool:
    """True when a condition ties the statement to accounts or an organization: the guard's own test
    (reconciler.policy.restriction: pinned shapes only), so what the audit calls public is what the guard
    refuses to write."""
    return restricts(statement.condition)


def _grants_pull(statement: _Statement) -> bool:
    return statement.effect == "Allow" and all(_action_matches(statement, a) for a in PULL_NEEDS)


def _deny_effect(allow: _Statement, deny: _Statement) -> str:
    """How a Deny bears on an Allow's pull grant: "revoked" (all of it), "limited" (perhaps part), ""."""
    if not any(_action_matches(deny, a) for a in PULL_NEEDS):
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
            return item in denied.accounts or item in denied.arns or _arn_account(item) in denied.accounts

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
        principal = statement.not_principal or statement.principal or _Principals()
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


def _beyond_pull(statement: _Statement, denied_by: tuple[_Statement, ...] = ()) -> list[str]:
    """What, beyond pull, the statement's actions let a principal do: ["push", "delete", ...]. `denied_by`:
    Deny statements that apply to every principal of the statement (they revoke its pull grant): actions
    they also deny are not counted."""
    if statement.not_action:
        return ["everything but " + ", ".join(statement.actions)]

    def granted(action: str) -> bool:
        return _action_matches(statement, action) and not any(_action_matches(d, action) for d in denied_by)

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


def _cross_account(statement: _Statement, owner: str | None) -> bool:
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
    return found
