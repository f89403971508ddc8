"""Deleted IAM principals: a role or user named in a policy, then deleted, reads back as its unique id.

IAM documents this for resource-based policies (IAM user guide, "IAM identifiers", unique identifiers;
AWS knowledge center, "unknown principal format in resource-based policies"): the stored policy keeps the
principal's unique id (`AROA...` for a role, `AIDA...` for a user) where its ARN was, and a policy naming a
unique id cannot be stored again: the id must be removed. ECR does not document its exact answer; the
emulator answers InvalidParameterException, as ECR does for every policy it refuses.

Knob `deleted_principals`: the role and user ARNs that are gone. Reads (`read_back`) show each as its
unique id (`unique_id`, stable per ARN); SetRepositoryPolicy (`validation`) refuses any text naming a
unique id, or the ARN of a deleted principal.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Set
from typing import Any

UNIQUE_ID = re.compile(r"^(AROA|AIDA)[A-Z0-9]{12,}$")
_KIND = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")


def unique_id(arn: str) -> str:
    """The unique id a deleted role or user's ARN reads back as (21 characters, as IAM's are)."""
    match = _KIND.fullmatch(arn)
    if match is None:
        raise ValueError(f"not the ARN of an IAM role or user: {arn!r}")
    prefix = "AROA" if match.group(1) == "role" else "AIDA"
    digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()
    return prefix + digest[:17]


def _replace(value: Any, deleted: Set[str]) -> Any:
    if isinstance(value, str):
        return unique_id(value) if value in deleted else value
    if isinstance(value, list):
        return [_replace(v, deleted) for v in value]
    return value


def show_deleted(document: Any, deleted: Set[str]) -> Any:
    """`document` with every deleted principal ARN (Principal / NotPrincipal `AWS`) as its unique id."""
    if not deleted or not isinstance(document, dict):
        return document
    statements = document.get("Statement")
    if not isinstance(statements, list | dict):
        return document
    out = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict):
            statement = dict(statement)
            for key in ("Principal", "NotPrincipal"):
                principal = statement.get(key)
                if isinstance(principal, dict) and "AWS" in principal:
                    statement[key] = {**principal, "AWS": _replace(principal["AWS"], deleted)}
        out.append(statement)
    return {**document, "Statement": out}


def names_deleted(document: Any, deleted: Set[str]) -> str | None:
    """The first unique id or deleted principal ARN a policy names, or None."""
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            if not isinstance(principal, dict):
                continue
            values = principal.get("AWS")
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and (UNIQUE_ID.fullmatch(value) or value in deleted):
                    return value
    return None
