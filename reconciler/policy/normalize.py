"""Canonical form of an IAM policy, so that policies equal in meaning compare equal.

Rules (Terraform's, docs/AWS.md "Policies come back reformatted"): statement order is ignored; `Action`,
`Resource`, principal and condition values are sets (a string equals a one-item list); a 12-digit account id
equals `arn:aws:iam::ID:root`; `"Principal": "*"` equals `{"AWS": "*"}` (IAM documents them as the same);
action names and condition keys are case-insensitive (two keys of one operator that differ only in case
stay two conditions); whitespace and key order never matter. `Version`,
`Sid`, `Effect` and condition operators are compared exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any

ACCOUNT_ID = re.compile(r"^\d{12}$")
PRINCIPAL_KEYS = ("Principal", "NotPrincipal")
SET_KEYS = ("Action", "NotAction", "Resource", "NotResource")

Canonical = str  # a canonical JSON text; equal strings mean equal meaning


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_set(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return sorted({_scalar(v) for v in items})


def _principal_value(kind: str, value: Any) -> list[str]:
    values = _as_set(value)
    if kind == "AWS":
        values = sorted({f"arn:aws:iam::{v}:root" if ACCOUNT_ID.match(v) else v for v in values})
    return values


def _principal(value: Any) -> dict[str, list[str]]:
    if value == "*":
        return {"AWS": ["*"]}
    if not isinstance(value, dict):
        return {"?": _as_set(value)}
    return {str(kind): _principal_value(str(kind), v) for kind, v in sorted(value.items())}


def _condition(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    result: dict[str, dict[str, Any]] = {}
    for operator, clauses in value.items():
        if not isinstance(clauses, dict):
            result[str(operator)] = {"?": _as_set(clauses)}
            continue
        grouped: dict[str, list[list[str]]] = {}
        for key, v in clauses.items():
            grouped.setdefault(str(key).lower(), []).append(_as_set(v))
        merged: dict[str, Any] = {}
        for lowered, sets in grouped.items():
            # Keys differing only in case are two conditions that must both hold (AND), not one key's
            # alternatives (OR): such a collision is its own canonical form (an object, where a single
            # key has a list). Without one, the form is what it always was: fingerprints do not move.
            merged[lowered] = sets[0] if len(sets) == 1 else {"all of": sorted(sets)}
        result[str(operator)] = dict(sorted(merged.items()))
    return dict(sorted(result.items()))


def canonical_statement(statement: Any) -> dict[str, Any]:
    if not isinstance(statement, dict):
        return {"?": statement}
    result: dict[str, Any] = {}
    for key, value in statement.items():
        if key in PRINCIPAL_KEYS:
            result[key] = _principal(value)
        elif key in SET_KEYS:
            values = _as_set(value)
            result[key] = sorted({v.lower() for v in values}) if key.endswith("Action") else values
        elif key == "Condition":
            result[key] = _condition(value)
        else:
            result[key] = value
    return dict(sorted(result.items()))


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def statements_of(document: Any) -> list[Any]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return statements if isinstance(statements, list) else [statements]


def canonical(document: Any) -> Canonical:
    """The canonical text of a policy document (parsed JSON), or of None (no policy)."""
    if document is None:
        return "null"
    statements = sorted(_dump(canonical_statement(s)) for s in statements_of(document))
    rest = {k: v for k, v in document.items() if k != "Statement"} if isinstance(document, dict) else {}
    return _dump({**rest, "Statement": [json.loads(s) for s in statements]})


def canonical_statements(statements: list[Any]) -> list[str]:
    return sorted(_dump(canonical_statement(s)) for s in statements)


def equivalent(a: Any, b: Any) -> bool:
    """True when two parsed policies (or None) mean the same."""
    return canonical(a) == canonical(b)
