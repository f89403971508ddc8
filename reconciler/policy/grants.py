"""Words for what a foreign statement grants beyond pull, for the plan's notes.

"push to arn:aws:iam::222233334444:role/ci": the same grant reads the same in every repository (action
spelling, order and list shape do not matter), so a comment can group thousands of repositories under one
line. Actions are named by what a reviewer cares about (push, replication, delete, policy changes); any
other action is listed as written.
"""

from __future__ import annotations

from typing import Any

from reconciler.policy.guard import (
    as_list,
    beyond_pull,
    is_public,
    is_wildcard_principal,
    restricting_condition,
)
from reconciler.policy.normalize import ACCOUNT_ID, statements_of
from reconciler.policy.ownership import SidOwner

# What each kind of grant means in ECR actions (lower case, as IAM compares them).
_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "push",
        frozenset(
            {"ecr:putimage", "ecr:initiatelayerupload", "ecr:uploadlayerpart", "ecr:completelayerupload"}
        ),
    ),
    (
        "replication",
        frozenset({"ecr:replicateimage", "ecr:createrepository", "ecr:batchimportupstreamimage"}),
    ),
    ("delete", frozenset({"ecr:batchdeleteimage", "ecr:deleterepository"})),
    (
        "policy changes",
        frozenset(
            {
                "ecr:setrepositorypolicy",
                "ecr:deleterepositorypolicy",
                "ecr:putlifecyclepolicy",
                "ecr:deletelifecyclepolicy",
            }
        ),
    ),
)
_EVERYTHING = {"*": "every action", "ecr:*": "every ECR action"}


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def grant_words(statement: dict[str, Any]) -> str | None:
    """'push and replication', 'every ECR action', 'ecr:TagResource'... None when it grants only pull."""
    extra = beyond_pull(statement)
    if not extra:
        return None
    if extra == ["notaction"]:
        excluded = sorted({str(a) for a in as_list(statement["NotAction"])}, key=str.lower)
        return "every action except " + ", ".join(excluded)
    for wildcard in ("*", "ecr:*"):
        if wildcard in extra:
            return _EVERYTHING[wildcard]
    parts = [kind for kind, actions in _KINDS if actions & set(extra)]
    known = set().union(*(actions for _, actions in _KINDS))
    # Other actions keep the spelling they were written in (first one seen), sorted case-blind.
    spelled: dict[str, str] = {}
    for action in (str(a) for a in as_list(statement.get("Action", []))):
        if action.lower() in extra and action.lower() not in known:
            spelled.setdefault(action.lower(), action)
    parts += [spelled[key] for key in sorted(spelled)]
    return _join(parts)


def _principal_words(statement: dict[str, Any]) -> list[str]:
    if is_wildcard_principal(statement):
        condition = restricting_condition(statement)
        return [
            "any principal with "
            + "; ".join(f"{key} {', '.join(values)}" for key, values in condition.items())
        ]
    principal = statement.get("Principal")
    words: list[str] = []
    for kind, values in principal.items() if isinstance(principal, dict) else []:
        for value in as_list(values):
            text = str(value)
            if text.startswith("arn:aws:iam::") and text.endswith(":root"):
                text = text.split(":")[4]
            if kind == "AWS" and ACCOUNT_ID.match(text):
                words.append(f"account {text}")
            elif kind in ("AWS", "Service"):
                words.append(text)
            else:
                words.append(f"{kind} {text}")
    return words


def foreign_grant_notes(document: Any, owns_sid: SidOwner) -> tuple[str, ...]:
    """One note per (grant, principal) of the foreign Allow statements granting more than pull, sorted.

    Public statements are not noted: the guard refuses them.
    """
    notes: set[str] = set()
    for statement in statements_of(document):
        if not isinstance(statement, dict) or is_public(statement):
            continue
        sid = statement.get("Sid")
        if owns_sid(sid if isinstance(sid, str) else None):
            continue
        grant = grant_words(statement)
        if grant is not None:
            notes.update(f"{grant} to {who}" for who in _principal_words(statement))
    return tuple(sorted(notes))
