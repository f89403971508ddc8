"""Put back what an apply changed, from its write report.

For each repository, nullplatform provider config and creation template the report shows written, the live
policy must still mean what the apply wrote (the last `after`); then the `before` of the first write in that
chain is put back (for a repository with no policy before, the policy is deleted; for a template that did
not exist, the template, if it holds nothing else). A target changed by anyone since is skipped and named:
restore never overwrites someone else's change. Restores are journaled too, so a restore can itself be
restored.

The role is not taken from the report (a report is a file anyone can hand over, and its `role_arn` is the
role of its day): the command assumes the registry's `write_role_arn` from today's policies files.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.apply.journal import Result, TargetKind, WriteRecord, final_records
from reconciler.policy.deleted import deleted_principals
from reconciler.policy.fingerprint import live_fingerprint

REPOSITORY = TargetKind.REPOSITORY
PROVIDER = TargetKind.PROVIDER
TEMPLATE = TargetKind.TEMPLATE
# Targets for repositories created from now on (a --repository restore leaves them alone), put back first.
_FOR_NEW_REPOSITORIES = (PROVIDER, TEMPLATE)


@dataclass(frozen=True)
class RestoreTarget:
    """One repository or provider config to put back: the policy it should get, and what it must still
    hold now."""

    registry: str
    account_id: str
    region: str
    name: str  # the repository name, or the provider id
    expected_live: str | None  # the last `after` written by the reconciler
    restore_to: str | None  # the `before` of the first write (None: there was no policy)
    # The last write was in flight when the run died, or failed after its request went out: it may not
    # have landed.
    uncertain: bool = False
    target: TargetKind = REPOSITORY  # or PROVIDER, TEMPLATE
    # Templates only: appliedFor now (as the apply left it) and to put back (None: there was no template).
    expected_applied_for: tuple[str, ...] | None = None
    restore_applied_for: tuple[str, ...] | None = None


def _selected(record: WriteRecord, globs: Sequence[str]) -> bool:
    if record.target in _FOR_NEW_REPOSITORIES:
        return not globs
    return record.target == REPOSITORY and (not globs or any(fnmatchcase(record.name, g) for g in globs))


def restore_targets(records: Sequence[WriteRecord], globs: Sequence[str] = ()) -> list[RestoreTarget]:
    """What to put back. With `globs`, only the repositories they match (and no provider config, as
    `--repository` leaves the provider alone everywhere)."""
    per_target: dict[tuple[str, TargetKind, str], list[WriteRecord]] = defaultdict(list)
    for record in records:  # file order is the order of the writes for one target
        if not _selected(record, globs):
            continue
        per_target[(record.registry, record.target, record.name)].append(record)
    targets: list[RestoreTarget] = []
    # Providers, then templates, as apply writes them (then the order of the names).
    order = {PROVIDER: 0, TEMPLATE: 1}
    for (registry, target, name), lines in sorted(
        per_target.items(), key=lambda i: (order.get(i[0][1], 2), i[0])
    ):
        # What landed, or may have: applied writes, a write in flight when the run died, and a failed
        # write whose request went out (a timeout after sending, a read-back that did not match).
        writes = [r for r in final_records(lines) if _may_have_landed(r)]
        if not writes:
            continue
        # Walk back while each write started from what the previous one left.
        first = len(writes) - 1
        while first > 0 and live_fingerprint(writes[first - 1].after) == live_fingerprint(
            writes[first].before
        ):
            first -= 1
        last = writes[-1]
        targets.append(
            RestoreTarget(
                registry=registry,
                account_id=last.account_id,
                region=last.region,
                name=name,
                expected_live=last.after,
                restore_to=writes[first].before,
                uncertain=last.result != Result.APPLIED,
                target=target,
                expected_applied_for=_applied_for(last.applied_for_after),
                restore_applied_for=_applied_for(writes[first].applied_for_before),
            )
        )
    return targets


def _may_have_landed(record: WriteRecord) -> bool:
    if record.result == Result.FAILED:
        return record.sent
    return record.result in (Result.APPLIED, Result.PENDING)


def _applied_for(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def unrestorable(target: RestoreTarget) -> str | None:
    """Why `target` cannot be put back, or None: its `before` names a deleted principal's unique id (an
    apply with `remove_deleted_principals` removed it), and ECR refuses to store such a policy again."""
    if target.restore_to is None:
        return None
    try:
        document = json.loads(target.restore_to)
    except json.JSONDecodeError:
        return None
    found = deleted_principals(document, lambda _sid: False)
    if not found:
        return None
    ids = ", ".join(dict.fromkeys(d.unique_id for d in found))
    return (
        f"not restorable: the policy before the apply names {ids}, the unique id of a deleted IAM role or "
        "user, which ECR refuses to store; left as it is"
    )
