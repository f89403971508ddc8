"""`plan --since SNAPSHOT`: which repository policies can be taken from a snapshot, and which must be read.

A policy is taken from the snapshot when no CloudTrail event since the snapshot's read began names its
repository; every other repository in scope (changed, created since, or not read then) is read as usual. When
the snapshot cannot be trusted (missing, unreadable, of another account or region, incomplete, older than the
event history) or the history cannot be read, nothing is taken from it: a full read, and the plan says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.desired.model import Registry
from reconciler.errors import ReconcilerError
from reconciler.live.cloudtrail import CloudTrailError, EventHistory
from reconciler.live.ecr import EcrClient
from reconciler.live.snapshot import RegistrySnapshot, read_snapshot

log = logging.getLogger(__name__)

# CloudTrail's event history keeps 90 days of management events.
EVENT_HISTORY = timedelta(days=90)
# Events are looked up from this long before the snapshot's read began: the runner's clock and AWS's may
# disagree by this much, and an event stamped just before the read began may concern a call the read missed.
CLOCK_MARGIN = timedelta(minutes=5)
# CloudTrail usually delivers an event within about 5 minutes of the call and guarantees no bound; a change
# made within this long before the plan may not be in the history yet (docs/INCREMENTAL.md).
DELIVERY_MARGIN = timedelta(minutes=15)


@dataclass(frozen=True)
class Baseline:
    """The policies a plan may take from a snapshot (repository -> text), and where they came from."""

    known: dict[str, str | None] = field(default_factory=dict)
    snapshot_time: datetime | None = None  # None: a full read
    events: int = 0
    fallback: str | None = None  # why the snapshot was not used
    planned_at: datetime | None = None

    def describe(self, reread: int) -> str:
        """The plan's provenance line for this registry."""
        if self.snapshot_time is None or self.planned_at is None:
            return f"full read ({self.fallback})" if self.fallback else "full read"
        undelivered = self.planned_at - DELIVERY_MARGIN
        return (
            f"from the snapshot of {self.snapshot_time:%Y-%m-%d %H:%M} UTC; {reread} "
            f"{'repository' if reread == 1 else 'repositories'} re-read after {self.events} CloudTrail "
            f"{'event' if self.events == 1 else 'events'}; changes made after {undelivered:%H:%M} UTC may "
            "not be delivered to CloudTrail yet"
        )


def _usable(snapshot: RegistrySnapshot | None, registry: Registry, path: Path, now: datetime) -> str | None:
    """Why `snapshot` cannot stand in for a read of `registry` (None: it can)."""
    if snapshot is None:
        return f"snapshot {path} has no registry {registry.name}"
    if (snapshot.account_id, snapshot.region) != (registry.account_id, registry.region):
        return (
            f"snapshot {path} is of account {snapshot.account_id} in {snapshot.region}, not "
            f"{registry.account_id} in {registry.region}"
        )
    if not snapshot.complete:
        return f"snapshot {path} holds an incomplete read of {registry.name}"
    if snapshot.read_started_at - CLOCK_MARGIN < now - EVENT_HISTORY:
        return f"snapshot {path} is older than CloudTrail's 90-day event history"
    if snapshot.read_started_at > now + CLOCK_MARGIN:
        return f"snapshot {path} was taken in the future ({snapshot.read_started_at.isoformat()})"
    return None


def baseline(registry: Registry, ecr: EcrClient, path: str | Path, now: datetime | None = None) -> Baseline:
    path = Path(path)
    now = now or datetime.now(UTC)
    try:
        snapshot = read_snapshot(path, registry.name)
    except ReconcilerError as exc:
        return Baseline(fallback=f"snapshot unusable: {exc}")
    reason = _usable(snapshot, registry, path, now)
    if reason is not None or snapshot is None:
        return Baseline(fallback=reason)
    history = EventHistory(ecr.cloudtrail_client())
    try:
        changes = history.changed_repositories(snapshot.read_started_at - CLOCK_MARGIN, now)
    except CloudTrailError as exc:
        return Baseline(fallback=str(exc))
    stale = changes.repositories | snapshot.unknown
    known = {name: text for name, text in snapshot.policies.items() if name not in stale}
    log.info(
        "%s: %d policies from the snapshot, %d named by CloudTrail", registry.name, len(known), len(stale)
    )
    return Baseline(
        known=known, snapshot_time=snapshot.read_started_at, events=changes.events, planned_at=now
    )
