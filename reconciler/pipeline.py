"""The read half of every run: load desired -> observe live -> build the plan.

Shared by plan, drift, the demo and the two-phase apply and backfill (`--max-changes`), so each one sees
the same Plan. The streamed apply (reconciler.apply.stream) decides per repository with the same
`repository_change` as it reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler.desired.loader import load_policies
from reconciler.desired.model import DesiredState, Registry
from reconciler.errors import ReconcilerError
from reconciler.live.ecr import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RPS,
    DEFAULT_READ_TIMEOUT,
    EcrClient,
)
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.observe import resolve_provider_ids, stream_registry
from reconciler.live.ratelimit import DEFAULT_MAX_CONCURRENCY
from reconciler.live.snapshot import SnapshotWriter
from reconciler.live.state import LiveRegistry
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.plan.providers import refuse_shared_providers
from reconciler.principals import verify_principals
from reconciler.report.progress import Progress


@dataclass(frozen=True)
class Scope:
    """Which part of the desired state a run covers."""

    registry: str | None = None
    repositories: tuple[str, ...] = ()  # fnmatch globs; empty means every managed repository
    # The targets for repositories created from now on: the provider config and the creation templates.
    include_provider: bool = True

    def selects_repository(self, name: str) -> bool:
        return not self.repositories or any(fnmatchcase(name, g) for g in self.repositories)


def refuse_unmatched_globs(globs: Sequence[str], names: Iterable[str], where: str) -> None:
    """A `--repository` glob that matches none of `names` (every repository of the run) is an error
    naming it: a typo would otherwise read as "no changes", a success. `where`: "repository in ..."."""
    unmatched = set(globs)
    for name in names:
        unmatched -= {g for g in unmatched if fnmatchcase(name, g)}
        if not unmatched:
            return
    refuse_globs_left(globs, unmatched, where)


def refuse_globs_left(globs: Sequence[str], unmatched: Iterable[str], where: str) -> None:
    left = set(unmatched)
    if left:
        listed = ", ".join(repr(g) for g in dict.fromkeys(globs) if g in left)
        raise ReconcilerError(f"--repository {listed} matches no {where}")


def plan_repositories(plan: Plan) -> Iterator[str]:
    """Every repository a plan read: changed, unchanged, or deleted while planning."""
    for registry in plan.registries:
        yield from (c.repository for c in registry.changes)
        yield from registry.unchanged
        yield from registry.gone


def in_registries(registries: Sequence[Registry]) -> str:
    names = ", ".join(r.name for r in registries)
    return f"in registry {names}" if len(registries) == 1 else f"in any of the registries {names}"


@dataclass(frozen=True)
class Tuning:
    concurrency: int | None = DEFAULT_CONCURRENCY  # None: sized to the rate (rate x latency), up to a cap
    max_rps: float | None = DEFAULT_MAX_RPS
    progress: bool = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @property
    def workers(self) -> int:
        """Threads for a pool of ECR calls: the fixed concurrency, or the most the pacer may let run."""
        return self.concurrency or DEFAULT_MAX_CONCURRENCY


def load_desired(policies: str | Path, scope: Scope) -> tuple[DesiredState, tuple[Registry, ...]]:
    desired = load_policies(policies)
    if scope.registry is None:
        return desired, desired.registries
    return desired, (desired.registry(scope.registry),)


def nullplatform_client(registries: Sequence[Registry], scope: Scope) -> NullplatformClient | None:
    """A client only when some registry in scope syncs a provider config and the key is there."""
    wanted = scope.include_provider and any(r.nullplatform for r in registries)
    if not wanted or not os.environ.get("NULLPLATFORM_API_KEY"):
        return None
    return NullplatformClient.from_env()


def ecr_client(registry: Registry, tuning: Tuning, *, write: bool) -> EcrClient:
    """The registry's ECR client; `write`: for a run that writes (it assumes the write role, reads
    included), else the read role. Every caller says which."""
    return EcrClient(
        registry,
        write=write,
        concurrency=tuning.concurrency,
        max_rps=tuning.max_rps,
        connect_timeout=tuning.connect_timeout,
        read_timeout=tuning.read_timeout,
        max_attempts=tuning.max_attempts,
    )


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
    tuning: Tuning,
    *,
    write: bool = False,
    since: str | Path | None = None,
    snapshot: SnapshotWriter | None = None,
) -> Iterator[LiveRegistry]:
    """Each registry's live state, one at a time: its policies are read as the plan builder takes them,
    and the next registry is listed only when the builder is done with this one. `write`: read with the
    write role (the first phase of a writing run). `since` and `snapshot`: see stream_registry."""
    nullplatform = nullplatform_client(registries, scope)
    for registry in registries:
        yield stream_registry(
            registry,
            ecr=ecr_client(registry, tuning, write=write),
            nullplatform=nullplatform,
            repository_globs=scope.repositories,
            on_progress=_progress(registry.name, tuning),
            include_provider=scope.include_provider,
            since=since,
            snapshot=snapshot,
        )


def providers_elsewhere(
    desired: DesiredState, registries: Sequence[Registry], scope: Scope
) -> dict[str, str]:
    """The provider ids of the registries outside this run that sync one (a CI job plans one registry):
    a provider shared with one of them must be refused here too, or each job would write it in turn."""
    in_run = {r.name for r in registries}
    others = [r for r in desired.registries if r.nullplatform is not None and r.name not in in_run]
    if not scope.include_provider or not others or not any(r.nullplatform for r in registries):
        return {}
    return resolve_provider_ids(others, nullplatform_client(others, scope))


def make_plan(
    policies: str | Path,
    scope: Scope,
    tuning: Tuning,
    *,
    write: bool = False,
    since: str | Path | None = None,
    snapshot_out: str | Path | None = None,
) -> Plan:
    """The plan. `write` when a writing run plans before it writes (`--max-changes`): its reads go
    through the write role too. `since`: take unchanged policies from that snapshot (live/incremental.py);
    `snapshot_out`: save what this full read sees (live/snapshot.py)."""
    if snapshot_out is not None and (since is not None or scope.repositories or not scope.include_provider):
        raise ReconcilerError(
            "--snapshot-out saves a full read: it cannot be combined with --since or --repository"
        )
    desired, registries = load_desired(policies, scope)
    if not registries:
        raise ReconcilerError(f"no registries in {policies}")
    # Before reading anything: a principal that does not resolve stops the run.
    organizations = verify_principals(registries)
    snapshot = SnapshotWriter(snapshot_out) if snapshot_out is not None else None
    try:
        # Listed up front (each registry's policies are still read as the plan is built): the
        # shared-provider check needs every registry's provider before any plan is built.
        live = list(observe(registries, scope, tuning, write=write, since=since, snapshot=snapshot))
        elsewhere = providers_elsewhere(desired, registries, scope)
        plan = build_plan(
            desired, refuse_shared_providers(desired.registries, live, elsewhere), organizations
        )
    except BaseException:
        if snapshot is not None:
            snapshot.discard()
        raise
    if snapshot is not None:
        snapshot.close()
    # A registry that could not be listed may hold a match: its error is reported instead.
    if scope.repositories and not any(r.error for r in plan.registries):
        where = f"repository its policies manage {in_registries(registries)}"
        refuse_unmatched_globs(scope.repositories, plan_repositories(plan), where)
    return plan
