"""Split a live policy into the statements we own and the foreign ones; merge desired over it.

Foreign statements (any Sid not matching a `managed_sids` glob, or no Sid at all) are carried over
exactly as read: same dict, same position relative to each other, never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.policy.normalize import statements_of
from reconciler.policy.render import POLICY_VERSION, PolicyDocument, Statement

SidOwner = Callable[[str | None], bool]


@dataclass(frozen=True)
class SplitPolicy:
    owned: list[Statement]
    foreign: list[Any]
    version: str


def split(document: Any, owns_sid: SidOwner) -> SplitPolicy:
    owned: list[Statement] = []
    foreign: list[Any] = []
    for statement in statements_of(document):
        sid = statement.get("Sid") if isinstance(statement, dict) else None
        (owned if owns_sid(sid if isinstance(sid, str) else None) else foreign).append(statement)
    version = document.get("Version", POLICY_VERSION) if isinstance(document, dict) else POLICY_VERSION
    return SplitPolicy(owned=owned, foreign=foreign, version=str(version))


def merge(live: Any, owns_sid: SidOwner, desired_owned: list[Statement]) -> PolicyDocument | None:
    """The desired policy: the live foreign statements, then ours. None means "no policy at all"."""
    parts = split(live, owns_sid)
    statements = [*parts.foreign, *desired_owned]
    if not statements:
        return None
    # Other top-level elements (an `Id`, say) are not ours either: keep them, in their place.
    kept = (
        {k: v for k, v in live.items() if k not in ("Version", "Statement")} if isinstance(live, dict) else {}
    )
    return {"Version": parts.version, **kept, "Statement": statements}
