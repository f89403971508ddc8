"""Deleted IAM principals in foreign statements: found, and (on request) removed. Pure.

When a role or user named in a resource-based policy is deleted, the policy reads back with the principal's
unique id (`AROA...` for a role, `AIDA...` for a user) where its ARN was, and the policy cannot be stored
again until the id is removed (IAM user guide, "IAM identifiers", section "Unique identifiers"; AWS
knowledge center, "Why does my resource-based policy show an unknown principal format"). Unique ids are
never reused, so the principal cannot come back: the id grants nothing, to anyone, ever.

Removing an id from `Principal` takes nothing from anyone. Removing one from `NotPrincipal` would widen the
statement ("everyone but ..." gets one fewer exception), so that is never done here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.policy.normalize import statements_of

# The unique ids of IAM roles (AROA) and users (AIDA).
UNIQUE_ID = re.compile(r"^(AROA|AIDA)[A-Z0-9]{12,}$")
OPTION = "remove_deleted_principals: true"

SidOwner = Callable[[str | None], bool]


@dataclass(frozen=True)
class DeletedPrincipal:
    statement: str  # the Sid, or "statement N" (its place in the policy)
    unique_id: str
    not_principal: bool  # named in NotPrincipal (never removed) rather than Principal

    def problem(self) -> str:
        """Why nothing can be written, and the ways out."""
        where = self.statement if self.statement.startswith("statement ") else f"statement {self.statement}"
        element = "NotPrincipal" if self.not_principal else "Principal"
        said = (
            f"{where} names {self.unique_id} in {element}: the unique id of a deleted IAM role or user, "
            "which ECR refuses to store"
        )
        if self.not_principal:
            return f"{said}; remove it from the statement by hand (removing it from NotPrincipal widens it)"
        return f"{said}; remove it from the statement by hand, or set `{OPTION}` in the registry's file"


def _values(element: Any) -> list[Any]:
    if not isinstance(element, dict):
        return []
    values = element.get("AWS")
    return values if isinstance(values, list) else [values]


def is_unique_id(value: Any) -> bool:
    return isinstance(value, str) and UNIQUE_ID.fullmatch(value) is not None


def _label(statement: dict[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return str(sid) if isinstance(sid, str) and sid else f"statement {index + 1}"


def _foreign(document: Any, owns_sid: SidOwner) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for index, statement in enumerate(statements_of(document)):
        if not isinstance(statement, dict):
            continue
        sid = statement.get("Sid")
        if not owns_sid(sid if isinstance(sid, str) else None):
            found.append((index, statement))
    return found


def deleted_principals(document: Any, owns_sid: SidOwner) -> list[DeletedPrincipal]:
    """Every unique id a foreign statement of the policy names, in policy order."""
    found: list[DeletedPrincipal] = []
    for index, statement in _foreign(document, owns_sid):
        for key in ("Principal", "NotPrincipal"):
            found.extend(
                DeletedPrincipal(_label(statement, index), value, key == "NotPrincipal")
                for value in _values(statement.get(key))
                if is_unique_id(value)
            )
    return found


def remove_deleted(document: dict[str, Any], owns_sid: SidOwner) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The policy without the unique ids in its foreign statements' `Principal`, and one line per removal.

    Only those values go: every other key and value of the statement stays as read (a list left with one
    item stays a list). A statement whose `Principal` is left naming nobody is removed whole. NotPrincipal
    is not touched (see the module docstring): check `deleted_principals` first.
    """
    foreign = {id(statement) for _, statement in _foreign(document, owns_sid)}
    statements: list[Any] = []
    lines: list[str] = []
    for index, statement in enumerate(statements_of(document)):
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        ids = [v for v in _values(principal) if is_unique_id(v)]
        if id(statement) not in foreign or not ids or not isinstance(principal, dict):
            statements.append(statement)
            continue
        label = _label(statement, index)
        kept_principal = copy.deepcopy(principal)
        values = principal["AWS"]
        left = [v for v in values if not is_unique_id(v)] if isinstance(values, list) else []
        if left:
            kept_principal["AWS"] = left
        else:
            del kept_principal["AWS"]
        lines.extend(f"remove deleted principal {value} from foreign statement {label}" for value in ids)
        if not kept_principal:
            lines.append(f"remove foreign statement {label} (it named only deleted principals)")
            continue
        statements.append({**statement, "Principal": kept_principal})
    cleaned = {**document, "Statement": statements}
    return cleaned, tuple(lines)
