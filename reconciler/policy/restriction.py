"""Does a condition tie a wildcard principal to accounts or an organization? The one answer the guard (what
may be written) and the access audit (what is public) share, so they never disagree.

An allowlist of pinned shapes, not a blacklist of match-all values: `StringLike aws:PrincipalOrgID "o*"`,
`aws:PrincipalOrgPaths "*/*"` or `aws:PrincipalAccount ["*0", ..., "*9"]` match every organization or
account, and no list of bad patterns catches them all. A clause restricts only when its operator is a
positive string match (`StringEquals`, `StringLike`, bare or `ForAnyValue:`; docs/AWS.md "IAM
evaluation": `ForAllValues:`, negated and `...IfExists` operators hold when the key is absent) and every
value listed for the key has the key's pinned shape:

- `aws:PrincipalAccount`: a 12-digit account id.
- `aws:PrincipalOrgID`: an organization id, `o-` and 10 to 32 lowercase letters or digits.
- `aws:PrincipalOrgPaths`: a path that starts with a literal organization id and `/` (what follows may
  use wildcards: that is how OU paths are written, reconciler/desired/fields.py `organization_path`).
- `aws:SourceAccount`, `aws:SourceOrgID`, `aws:SourceOrgPaths`: a literal value (no `*`, `?` or policy
  variable).

Anything else (other keys, other operators, operator names in another case, non-string values) restricts
nothing. Condition key names are case-insensitive, as in IAM. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_OPERATORS = frozenset({"StringEquals", "StringLike", "ForAnyValue:StringEquals", "ForAnyValue:StringLike"})
_ACCOUNT = re.compile(r"\d{12}")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_ORG_PATH = re.compile(r"o-[a-z0-9]{10,32}/")  # a prefix: matched from the start only


def _literal(value: str) -> bool:
    return bool(value) and not any(c in value for c in "*?") and "${" not in value


_SHAPES: dict[str, Callable[[str], bool]] = {
    "aws:principalaccount": lambda v: _ACCOUNT.fullmatch(v) is not None,
    "aws:principalorgid": lambda v: _ORG_ID.fullmatch(v) is not None,
    "aws:principalorgpaths": lambda v: _ORG_PATH.match(v) is not None,
    "aws:sourceaccount": _literal,
    "aws:sourceorgid": _literal,
    "aws:sourceorgpaths": _literal,
}


def _pinned(key: str, values: Any) -> list[str] | None:
    """The values, when every one has the key's pinned shape (and there is at least one); else None."""
    shape = _SHAPES.get(key.lower())
    items = values if isinstance(values, list) else [values]
    if shape is None or not items or not all(isinstance(v, str) and shape(v) for v in items):
        return None
    return [str(v) for v in items]


def restricting_clauses(condition: Any) -> dict[str, list[str]]:
    """The keys (as written) and values of a Condition element that restrict a wildcard principal."""
    found: dict[str, list[str]] = {}
    if not isinstance(condition, dict):
        return found
    for operator, clauses in condition.items():
        if operator not in _OPERATORS or not isinstance(clauses, dict):
            continue
        for key, values in clauses.items():
            pinned = _pinned(str(key), values)
            if pinned is not None:
                found[str(key)] = pinned
    return found


def restricts(condition: Any) -> bool:
    """True when the Condition element ties the statement to pinned accounts or an organization."""
    return bool(restricting_clauses(condition))
