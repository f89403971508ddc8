"""The statements of a repository policy, read into plain data: who each names (Principal or NotPrincipal,
sorted into accounts, roles and users, services and the rest) and which actions it covers. Pure.

Shared by the pull decision (`reconciler.policy.access`) and the audit's grants and findings
(`reconciler.policy.findings`), so both read a policy the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from reconciler.policy.deleted import is_unique_id
from reconciler.policy.normalize import statements_of

ACCOUNT_ID = re.compile(r"^\d{12}$")
_ARN = re.compile(r"^arn:[a-z-]+:(?:iam|sts)::(\d{12}):(.+)$")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Principals:
    """A Principal (or NotPrincipal) element, sorted into what it names."""

    wildcard: bool = False
    accounts: frozenset[str] = frozenset()  # whole accounts: `ID` or `arn:...:root`
    arns: frozenset[str] = frozenset()  # roles, users, sessions
    services: tuple[str, ...] = ()
    others: tuple[str, ...] = ()  # Federated, CanonicalUser, unique ids (AROA...), anything else

    def all_accounts(self) -> set[str]:
        return set(self.accounts) | {arn_account(a) for a in self.arns}

    def readable(self) -> list[str]:
        if self.wildcard:
            return ["*"]
        return (
            [f"account {a}" for a in sorted(self.accounts)]
            + sorted(self.arns)
            + [f"service {s}" for s in self.services]
            + list(self.others)
        )


def arn_account(arn: str) -> str:
    match = _ARN.match(arn)
    return match.group(1) if match else ""


def _principals(value: Any) -> Principals:
    # Read as the guard reads it (guard.is_wildcard_principal): anything but an object of principal lists,
    # and any value with a wildcard in it (`arn:aws:iam::*:root`, `" *"`), is everyone.
    if not isinstance(value, dict) or any(
        not isinstance(v, str) or "*" in v or "?" in v for values in value.values() for v in _as_list(values)
    ):
        return Principals(wildcard=True)
    accounts: set[str] = set()
    arns: set[str] = set()
    services: list[str] = []
    others: list[str] = []
    for kind, values in value.items():
        for item in _as_list(values):
            text = str(item)
            if kind == "AWS":
                match = _ARN.match(text)
                if ACCOUNT_ID.match(text):
                    accounts.add(text)
                elif match and match.group(2) == "root":
                    accounts.add(match.group(1))
                elif match:
                    arns.add(text)
                else:
                    # A deleted role's or user's ARN is stored as its unique id (AROA.../AIDA...): it
                    # matches nobody (reconciler.policy.deleted).
                    known = "deleted principal" if is_unique_id(text) else "unknown principal"
                    others.append(f"{known} {text}")
            elif kind == "Service":
                services.append(text)
            else:
                others.append(f"{kind} {text}")
    return Principals(False, frozenset(accounts), frozenset(arns), tuple(services), tuple(others))


@dataclass(frozen=True)
class Statement:
    label: str
    effect: str
    principal: Principals | None  # None: no Principal element
    not_principal: Principals | None
    actions: tuple[str, ...]
    not_action: bool
    condition: Any


def parse_statements(document: Any) -> list[Statement]:
    """The well-formed statements of a policy; a statement that is not an object is skipped."""
    parsed: list[Statement] = []
    for index, raw in enumerate(statements_of(document)):
        if not isinstance(raw, dict):
            continue
        sid = raw.get("Sid")
        not_action = "NotAction" in raw
        parsed.append(
            Statement(
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


def action_matches(statement: Statement, action: str) -> bool:
    """Actions are case-insensitive and take `*` and `?`; NotAction is every action but those listed."""
    hit = any(_action_pattern(p).fullmatch(action) for p in statement.actions)
    return not hit if statement.not_action else hit
