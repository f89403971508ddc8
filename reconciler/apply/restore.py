"""Put back what an apply changed, from its write report.

For each repository the report shows written, the live policy must still mean what the apply wrote (the
last `after`); then the `before` of the first write in that chain is put back (or the policy deleted if
there was none). A repository changed by anyone since is skipped and named: restore never overwrites
someone else's change. Restores are journaled too, so a restore can itself be restored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.apply.journal import Result, WriteRecord
from reconciler.plan.fingerprint import live_fingerprint


@dataclass(frozen=True)
class RestoreTarget:
    """One repository to put back: the policy it should get, and what it must still hold now."""

    registry: str
    account_id: str
    region: str
    role_arn: str | None
    repository: str
    expected_live: str | None  # the last `after` written by the reconciler
    restore_to: str | None  # the `before` of the first write (None: delete the policy)


def restore_targets(records: Sequence[WriteRecord], globs: Sequence[str] = ()) -> list[RestoreTarget]:
    chains: dict[tuple[str, str], list[WriteRecord]] = defaultdict(list)
    for record in records:
        if record.target != "repository" or record.result != Result.APPLIED:
            continue
        if globs and not any(fnmatchcase(record.name, g) for g in globs):
            continue
        chains[(record.registry, record.name)].append(record)
    targets: list[RestoreTarget] = []
    for (registry, name), writes in sorted(chains.items()):
        writes.sort(key=lambda r: r.time)
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
                role_arn=last.role_arn,
                repository=name,
                expected_live=last.after,
                restore_to=writes[first].before,
            )
        )
    return targets
