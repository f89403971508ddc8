"""The safety rules every written policy must pass, split by who authored each statement.

- Every Allow statement of a written text, whoever wrote it: never anyone at all. A `*` principal (or
  `{"AWS": "*"}`) needs an organization or account condition of a pinned shape (a 12-digit account, an
  organization id, an OU path under a literal organization id: reconciler.policy.restriction);
  `NotPrincipal` in an Allow is "everyone but the listed" (docs/AWS.md, "IAM evaluation") and
  is refused outright.
- Statements we author (rendered, or whose Sid matches `managed_sids`): pull only as well (no `NotAction`,
  no action but pull).
- The whole text: at most ECR's 10,240 characters.

Foreign statements that grant more than pull to named principals (a CI role pushing, a replication account)
are carried over as read: writing our statement next to theirs grants them nothing they did not have, so
they do not block the write; the plan notes them instead (`reconciler.policy.grants`).

Checked when rendering (validate), when planning, and again on the exact text right before every write.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.errors import GuardViolation
from reconciler.policy.normalize import statements_of
from reconciler.policy.ownership import SidOwner
from reconciler.policy.render import PULL_ACTIONS
from reconciler.policy.restriction import restricting_clauses

# ECR rejects policy text over 10,240 characters (docs/AWS.md, "Repository policies").
MAX_POLICY_CHARS = 10_240
PULL = frozenset({a.lower() for a in PULL_ACTIONS} | {"ecr:listimages", "ecr:getrepositorypolicy"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_wildcard_principal(statement: dict[str, Any]) -> bool:
    """Does the Principal (fail-closed) take in anyone? `"*"`; a missing Principal; anything that is not an
    object of principal lists (a list, `" *"`, null); and any value with `*` or `?` in it
    (`arn:aws:iam::*:root`, `"**"`): IAM names no principal with a wildcard, so such a value is read as
    the widest thing it could mean rather than guessed."""
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return True
    return any(
        not isinstance(v, str) or "*" in v or "?" in v
        for values in principal.values()
        for v in as_list(values)
    )


def restricting_condition(statement: dict[str, Any]) -> dict[str, list[str]]:
    """The organization/account keys (as written) and values that restrict a wildcard principal: pinned
    shapes only (reconciler.policy.restriction, shared with the access audit)."""
    return restricting_clauses(statement.get("Condition"))


def is_public(statement: dict[str, Any]) -> bool:
    """An Allow that lets anyone at all in: NotPrincipal, or `*` with no organization/account condition."""
    if statement.get("Effect") != "Allow":
        return False  # Deny statements only take access away
    if "NotPrincipal" in statement:
        return True
    return is_wildcard_principal(statement) and not restricting_condition(statement)


def beyond_pull(statement: dict[str, Any]) -> list[str]:
    """The actions an Allow grants beyond pull (lower case, sorted); `NotAction` counts as beyond."""
    if statement.get("Effect") != "Allow":
        return []
    if "NotAction" in statement:
        return ["notaction"]
    return sorted(
        {a for a in (str(x).lower() for x in as_list(statement.get("Action", []))) if a not in PULL}
    )


# IAM's statement elements and a policy's top-level ones, spelled as IAM spells them. Anything else (a
# case variant such as "effect" or "notaction", a typo) is refused: IAM would not read it as the rule the
# checks here look for, so a check could pass on a statement that means something else.
STATEMENT_KEYS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
POLICY_KEYS = frozenset({"Version", "Id", "Statement"})
EFFECTS = ("Allow", "Deny")


def _ours(statement: dict[str, Any], owns_sid: SidOwner | None) -> bool:
    if owns_sid is None:
        return True
    sid = statement.get("Sid")
    return owns_sid(sid if isinstance(sid, str) else None)


def violations(document: Any, owns_sid: SidOwner | None = None) -> list[str]:
    """Every rule the parsed policy breaks, as readable sentences (empty when safe).

    `owns_sid` tells our statements from foreign ones; None means every statement is ours (a rendered text).
    """
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["the policy is not a JSON object"]
    unknown = sorted(str(k) for k in document if k not in POLICY_KEYS)
    if unknown:
        problems.append(f"the policy has elements IAM does not know: {', '.join(unknown)}")
    for index, statement in enumerate(statements_of(document)):
        if not isinstance(statement, dict):
            problems.append(f"statement {index + 1} is not an object")
            continue
        label = f"statement {statement.get('Sid') or index + 1!s}"
        unknown = sorted(str(k) for k in statement if k not in STATEMENT_KEYS)
        if unknown:
            problems.append(f"{label} has elements IAM does not know: {', '.join(unknown)}")
        effect = statement.get("Effect")
        if effect not in EFFECTS:
            problems.append(f"{label} has Effect {effect!r}: it must be exactly Allow or Deny")
        ours = _ours(statement, owns_sid)
        if ours and "Action" not in statement:
            problems.append(f"{label} has no Action: ours must name the pull actions")
        if effect != "Allow":
            continue
        if "NotPrincipal" in statement:
            problems.append(f"{label} uses NotPrincipal in an Allow: everyone but the listed (public)")
        elif is_public(statement):
            problems.append(
                f"{label} allows any principal without an organization or account condition (public)"
            )
        if not ours:
            continue
        extra = beyond_pull(statement)
        if extra == ["notaction"]:
            problems.append(f"{label} uses NotAction, which grants more than pull")
        elif extra:
            problems.append(f"{label} grants non-pull actions: {', '.join(extra)}")
    return problems


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: a key given twice is refused (which one a reader keeps differs)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise GuardViolation(f"policy text has the key {key!r} twice in one object")
        found[key] = value
    return found


def check_text(text: str, owns_sid: SidOwner | None = None) -> None:
    """The last gate before a write: raises GuardViolation unless `text` is safe to send as-is.

    `owns_sid` as for `violations`; None (every statement ours) is the strictest reading.
    """
    if len(text) > MAX_POLICY_CHARS:
        raise GuardViolation(f"policy text is {len(text)} characters; ECR allows at most {MAX_POLICY_CHARS}")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise GuardViolation(f"policy text is not valid JSON: {exc}") from exc
    except GuardViolation as exc:
        raise GuardViolation(f"refusing to write an unsafe policy: {exc}") from None
    found = violations(document, owns_sid)
    if found:
        raise GuardViolation("refusing to write an unsafe policy: " + "; ".join(found))
