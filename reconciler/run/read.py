"""The read half of every run: observe live -> build the plan.

Shared by plan, drift, the demo and the two-phase apply and backfill (`--max-changes`), so each one sees
the same Plan. The streamed apply (reconciler.apply.stream) decides per repository with the same
`repository_change` as it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from reconciler.desired.model import DesiredState, Registry
from reconciler.live.observe import stream_registry
from reconciler.live.snapshot import SnapshotWriter
from reconciler.live.state import LiveRegistry
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.plan.providers import refuse_shared_providers
from reconciler.policy.organization import Organization
from reconciler.report.progress import Progress
from reconciler.run.clients import Clients
from reconciler.run.globs import managed_where, plan_repositories, refuse_unmatched_globs
from reconciler.run.preflight import providers_elsewhere
from reconciler.run.settings import Scope, Tuning


def _progress(name: str, tuning: Tuning) -> Callable[[int, int], None]:
    progress: Progress | None = None

    def on_progress(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress(f"reading {name}", total, enabled=tuning.progress)
        progress.advance(done - progress.done)

    return on_progress


def observe(
    registries: Sequence[Registry],
    scope: Scope,
    clients: Clients,
    *,
    since: str | Path | None = None,
    snapshot: SnapshotWriter | None = None,
) -> Iterator[LiveRegistry]:
    """Each registry's live state, one at a time: its policies are read as the plan builder takes them,
    and the next registry is listed only when the builder is done with this one. `since` and `snapshot`:
    see stream_registry."""
    nullplatform = clients.nullplatform(registries, scope)
    for registry in registries:
        yield stream_registry(
            registry,
            ecr=clients.ecr(registry),
            nullplatform=nullplatform,
            repository_globs=scope.repositories,
            on_progress=_progress(registry.name, clients.tuning),
            include_provider=scope.include_provider,
            since=since,
            snapshot=snapshot,
        )


def read_and_plan(
    desired: DesiredState,
    registries: Sequence[Registry],
    scope: Scope,
    clients: Clients,
    organizations: Mapping[str, Organization],
    *,
    since: str | Path | None = None,
    snapshot_out: str | Path | None = None,
) -> Plan:
    """The plan of `registries` (principals already checked: `organizations`). `since`: take unchanged
    policies from that snapshot (live/incremental.py); `snapshot_out`: save what this full read sees
    (live/snapshot.py)."""
    snapshot = SnapshotWriter(snapshot_out) if snapshot_out is not None else None
    try:
        # Listed up front (each registry's policies are still read as the plan is built): the
        # shared-provider check needs every registry's provider before any plan is built.
        live = list(observe(registries, scope, clients, since=since, snapshot=snapshot))
        elsewhere = providers_elsewhere(desired, registries, scope)
        plan = build_plan(
            desired, refuse_shared_providers(desired.registries, live, elsewhere), organizations
        )
        plan = replace(plan, repositories=scope.repositories, repositories_only=not scope.include_provider)
    except BaseException:
        if snapshot is not None:
            snapshot.discard()
        raise
    if snapshot is not None:
        snapshot.close()
    # A registry that could not be listed may hold a match: its error is reported instead.
    if scope.repositories and not any(r.error for r in plan.registries):
        refuse_unmatched_globs(scope.repositories, plan_repositories(plan), managed_where(registries))
    return plan
