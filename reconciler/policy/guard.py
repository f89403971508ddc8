"""The safety rules every written policy must pass: never public, pull only, within ECR's size limit.

Checked when rendering (validate) and again on the exact text right before every write (apply). The rules
apply to every Allow statement in the text, foreign ones included: the reconciler refuses to be the one
that writes a policy granting more than pull, whoever authored the statement.
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.errors import GuardViolation
from reconciler.policy.normalize import statements_of
from reconciler.policy.render import PULL_ACTIONS

# ECR rejects policy text over 10,240 characters (../shared/reference.md, "ECR").
MAX_POLICY_CHARS = 10_240
_PULL = {a.lower() for a in PULL_ACTIONS} | {"ecr:listimages", "ecr:getrepositorypolicy"}

# The condition keys that tie a wildcard principal to an organization or account.
_RESTRICTING_KEYS = {
    "aws:principalorgpaths",
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
}
# ForAllValues is left out on purpose: it is true when the key is absent from the request.
_RESTRICTING_OPERATORS = {"stringequals", "stringlike", "foranyvalue:stringequals", "foranyvalue:stringlike"}
# A value that matches everything (or every organization) restricts nothing.
_MATCH_ALL = re.compile(r"^[*?]*$|^o-[*?]*(/.*)?$")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_wildcard_principal(statement: dict[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        return True  # "everyone except" is as public as "*"
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(v == "*" for values in principal.values() for v in _as_list(values))
    return principal is None


def _restricting_condition(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    for operator, clauses in condition.items():
        if str(operator).lower() not in _RESTRICTING_OPERATORS or not isinstance(clauses, dict):
            continue
        for key, values in clauses.items():
            items = _as_list(values)
            if (
                str(key).lower() in _RESTRICTING_KEYS
                and items
                and all(isinstance(v, str) and not _MATCH_ALL.match(v) for v in items)
            ):
                return True
    return False


def violations(document: Any) -> list[str]:
    """Every rule the parsed policy breaks, as readable sentences (empty when safe)."""
    problems: list[str] = []
    for index, statement in enumerate(statements_of(document)):
        if not isinstance(statement, dict):
            problems.append(f"statement {index + 1} is not an object")
            continue
        if statement.get("Effect") != "Allow":
            continue  # Deny statements only take access away
        label = f"statement {statement.get('Sid') or index + 1!s}"
        if "NotAction" in statement:
            problems.append(f"{label} uses NotAction, which grants more than pull")
        actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
        extra = sorted(a for a in actions if a not in _PULL)
        if extra:
            problems.append(f"{label} grants non-pull actions: {', '.join(extra)}")
        if _is_wildcard_principal(statement) and not _restricting_condition(statement):
            problems.append(
                f"{label} lets any principal pull without an organization or account condition (public)"
            )
    return problems


def check_text(text: str) -> None:
    """The last gate before a write: raises GuardViolation unless `text` is safe to send as-is."""
    if len(text) > MAX_POLICY_CHARS:
        raise GuardViolation(f"policy text is {len(text)} characters; ECR allows at most {MAX_POLICY_CHARS}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GuardViolation(f"policy text is not valid JSON: {exc}") from exc
    found = violations(document)
    if found:
        raise GuardViolation("refusing to write an unsafe policy: " + "; ".join(found))
