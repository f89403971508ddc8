"""IAM `Condition` blocks, for the keys repository policies use to name accounts and organizations.

Three-valued: a condition holds, does not hold, or could not be evaluated (with the reason). Only what
docs/AWS.md ("IAM evaluation") states is evaluated: `StringEquals` and `StringLike`, bare or
with `ForAnyValue:`/`ForAllValues:`, on `aws:PrincipalAccount`, `aws:PrincipalOrgID` and
`aws:PrincipalOrgPaths`. Everything else (other keys, negated or `...IfExists` operators, other types,
policy variables) is reported as not evaluated rather than guessed. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

PRINCIPAL_ACCOUNT = "aws:principalaccount"
PRINCIPAL_ORG_ID = "aws:principalorgid"
PRINCIPAL_ORG_PATHS = "aws:principalorgpaths"
EVALUATED_KEYS = frozenset({PRINCIPAL_ACCOUNT, PRINCIPAL_ORG_ID, PRINCIPAL_ORG_PATHS})
# aws:PrincipalOrgPaths is multivalued (one path per parent chain); the others hold one value.
MULTIVALUED_KEYS = frozenset({PRINCIPAL_ORG_PATHS})
_OPERATORS = ("StringEquals", "StringLike")
_QUALIFIERS = ("ForAnyValue", "ForAllValues")


@dataclass(frozen=True)
class Tri:
    """True, False, or None (could not be evaluated, with the reasons)."""

    value: bool | None
    reasons: tuple[str, ...] = ()


TRUE = Tri(True)
FALSE = Tri(False)


def unknown(*reasons: str) -> Tri:
    return Tri(None, tuple(dict.fromkeys(reasons)))


def all_of(items: Iterable[Tri]) -> Tri:
    """AND: one False decides (even next to unknowns); else any unknown makes it unknown."""
    reasons: list[str] = []
    undecided = False
    for item in items:
        if item.value is False:
            return FALSE
        if item.value is None:
            undecided = True
            reasons += item.reasons
    return unknown(*reasons) if undecided else TRUE


def any_of(items: Iterable[Tri]) -> Tri:
    """OR: one True decides; else any unknown makes it unknown."""
    reasons: list[str] = []
    undecided = False
    for item in items:
        if item.value is True:
            return TRUE
        if item.value is None:
            undecided = True
            reasons += item.reasons
    return unknown(*reasons) if undecided else FALSE


@dataclass(frozen=True)
class RequestContext:
    """The condition keys of a request, lower-cased. A key mapped to () is absent from the request; a key
    in `unknown` (or in neither) has a value we do not know, and the reason says why."""

    values: Mapping[str, tuple[str, ...]]
    unknown: Mapping[str, str]

    def lookup(self, key: str) -> tuple[str, ...] | str:
        """The key's values, or the reason they are not known."""
        if key in self.values:
            return self.values[key]
        return self.unknown.get(key, f"the value of {key} is not known")


@dataclass(frozen=True)
class Operator:
    qualifier: str | None  # "ForAnyValue", "ForAllValues" or None
    base: str


def parse_operator(name: str) -> Operator | None:
    """The operators we evaluate, spelled as IAM documents them; None for every other operator."""
    qualifier, _, base = name.rpartition(":")
    if qualifier and qualifier not in _QUALIFIERS:
        return None
    if base not in _OPERATORS:
        return None  # negated, ...IfExists, IgnoreCase, Arn*, Numeric*, ...: not evaluated
    return Operator(qualifier or None, base)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def condition_values(value: Any) -> list[str] | None:
    """The listed values of one key (a string equals a one-item list); None when not all are scalars."""
    items = value if isinstance(value, list) else [value]
    values = [_scalar(v) for v in items]
    return None if any(v is None for v in values) else [v for v in values if v is not None]


@lru_cache(maxsize=4096)
def _like(pattern: str) -> re.Pattern[str]:
    # StringLike: `*` is any run of characters, `/` included; `?` exactly one. Case-sensitive.
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _matches(base: str, pattern: str, value: str) -> bool:
    if base == "StringEquals":
        return pattern == value  # values are case-sensitive (StringEqualsIgnoreCase is not evaluated)
    return _like(pattern).fullmatch(value) is not None


def static_problems(condition: Any) -> list[str]:
    """What in a Condition block cannot be evaluated, whatever the request: operators, keys, values."""
    if condition is None:
        return []
    if not isinstance(condition, dict):
        return ["the Condition element is not an object"]
    problems: list[str] = []
    for name, clauses in condition.items():
        operator = parse_operator(str(name))
        if operator is None:
            problems.append(f"condition operator {name} is not evaluated")
            continue
        if not isinstance(clauses, dict):
            problems.append(f"condition {name} is not an object")
            continue
        for key, listed in clauses.items():
            lowered = str(key).lower()
            values = condition_values(listed)
            if lowered not in EVALUATED_KEYS:
                problems.append(f"condition key {key} is not evaluated")
            elif values is None:
                problems.append(f"condition {name} {key} has values that are not strings")
            elif any("${" in v for v in values):
                problems.append(f"condition {name} {key} uses a policy variable, which is not evaluated")
            elif operator.qualifier is None and lowered in MULTIVALUED_KEYS:
                # IAM wants a set operator on a multivalued key; what a bare one does is not stated.
                problems.append(
                    f"{name} on the multivalued key {key} (without ForAnyValue:) is not evaluated"
                )
    return problems


def _clause(operator: Operator, listed: list[str], requested: tuple[str, ...]) -> bool:
    def hit(value: str) -> bool:
        return any(_matches(operator.base, pattern, value) for pattern in listed)

    if operator.qualifier == "ForAllValues":
        return all(hit(v) for v in requested)  # true for an empty set: restricts nothing
    # A key absent from the request makes a positive match false (bare and ForAnyValue alike).
    return any(hit(v) for v in requested)


def evaluate(condition: Any, context: RequestContext) -> Tri:
    """Whether a statement's Condition holds for the request. All operators and all keys must hold (AND);
    the values listed for one key are alternatives (OR). Key names are case-insensitive."""
    if condition is None:
        return TRUE
    problems = static_problems(condition)
    results: list[Tri] = [unknown(*problems)] if problems else []
    if isinstance(condition, dict):
        for name, clauses in condition.items():
            operator = parse_operator(str(name))
            if operator is None or not isinstance(clauses, dict):
                continue
            for key, raw in clauses.items():
                lowered = str(key).lower()
                listed = condition_values(raw)
                if lowered not in EVALUATED_KEYS or listed is None or any("${" in v for v in listed):
                    continue
                if operator.qualifier is None and lowered in MULTIVALUED_KEYS:
                    continue
                requested = context.lookup(lowered)
                if isinstance(requested, str):
                    results.append(unknown(requested))
                else:
                    results.append(TRUE if _clause(operator, listed, requested) else FALSE)
    return all_of(results)
