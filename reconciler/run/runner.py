"""One run of plan, apply or backfill: the desired state loaded once, the registries in scope, the clients
with the role the command needs; it checks before it reads or writes and picks the execution mode.

Modes: `plan` reads and builds the plan (read role). `apply` writes, with the write role (the read role
for a dry run), in one of three ways: a single streamed pass (the default), two phases with
`--max-changes` (read everything and count, refuse before the first write, then write), or the changes of
a saved plan (`--plan`, streamed; two phases with `--max-changes` too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.executor import ApplyOptions, ApplySummary
from reconciler.desired.model import DesiredState, Registry
from reconciler.errors import ReconcilerError
from reconciler.plan.model import Plan
from reconciler.principals import verify_principals
from reconciler.run.clients import Clients
from reconciler.run.globs import managed_where, plan_repositories, refuse_globs_left, refuse_unmatched_globs
from reconciler.run.preflight import load_saved_plan, refuse_providers_shared_since
from reconciler.run.read import read_and_plan
from reconciler.run.settings import Scope, Tuning
from reconciler.run.write import execute, stream
from reconciler.validation.loader import load_policies


def load_desired(policies: str | Path, scope: Scope) -> tuple[DesiredState, tuple[Registry, ...]]:
    desired = load_policies(policies)
    if scope.registry is None:
        return desired, desired.registries
    return desired, (desired.registry(scope.registry),)


def refuse_partial_snapshot(scope: Scope, since: str | Path | None, snapshot_out: str | Path | None) -> None:
    if snapshot_out is not None and (since is not None or scope.repositories or not scope.include_provider):
        raise ReconcilerError(
            "--snapshot-out saves a full read: it cannot be combined with --since, --repository or "
            "--repositories-only"
        )


@dataclass(frozen=True)
class Applied:
    """What an apply did, and the `--repository` globs that matched a repository on the way."""

    summary: ApplySummary
    matched: set[str]


def _nothing(_: object) -> None:
    pass


@dataclass(frozen=True)
class Run:
    policies: str | Path
    desired: DesiredState
    registries: tuple[Registry, ...]  # in scope (with a saved plan: its registries, in its order)
    scope: Scope
    clients: Clients
    saved: Plan | None = None  # `apply --plan`: checked against policies/, narrowed to the scope
    dry_run: bool = False

    @classmethod
    def to_plan(cls, policies: str | Path, scope: Scope, tuning: Tuning) -> Run:
        """A run that only reads (the read role)."""
        desired, registries = load_desired(policies, scope)
        if not registries:
            raise ReconcilerError(f"no registries in {policies}")
        return cls(policies, desired, registries, scope, Clients(tuning, write=False))

    @classmethod
    def to_write(
        cls, policies: str | Path, scope: Scope, tuning: Tuning, *, dry_run: bool, saved_plan: str | None
    ) -> Run:
        """A run that writes (the write role for every call; the read role for a dry run). With
        `saved_plan`, the plan file is checked against policies/ and its providers against the registries
        that share one since it was made."""
        desired, registries = load_desired(policies, scope)
        saved = None
        if saved_plan:
            saved, scope = load_saved_plan(saved_plan, desired, scope)
            registries = tuple(desired.registry(r.registry) for r in saved.registries)
            saved = refuse_providers_shared_since(desired, registries, saved, scope)
        if not registries:
            raise ReconcilerError(f"no registries in {policies}")
        clients = Clients(tuning, write=not dry_run)
        return cls(policies, desired, registries, scope, clients, saved=saved, dry_run=dry_run)

    def plan(self, *, since: str | Path | None = None, snapshot_out: str | Path | None = None) -> Plan:
        """Read and plan. `since`: take unchanged policies from that snapshot (live/incremental.py);
        `snapshot_out`: save what this full read sees (live/snapshot.py)."""
        refuse_partial_snapshot(self.scope, since, snapshot_out)
        # Before reading anything: a principal that does not resolve stops the run.
        organizations = verify_principals(self.registries)
        return read_and_plan(
            self.desired,
            self.registries,
            self.scope,
            self.clients,
            organizations,
            since=since,
            snapshot_out=snapshot_out,
        )

    def apply(
        self,
        *,
        max_changes: int | None,
        report: Path,
        on_plan: Callable[[Plan], None] = _nothing,
        on_registry: Callable[[Registry], None] = _nothing,
        on_ended_early: Callable[[BaseException], None] = _nothing,
    ) -> Applied:
        """Write. `on_plan`: the plan of a two-phase run, before its first write; `on_registry`: each
        registry of a streamed run, before its pass; `on_ended_early`: the run ends early (Ctrl-C, expired
        credentials, an error) once it may have written (the error is raised again after it)."""
        options = ApplyOptions(
            dry_run=self.dry_run,
            max_changes=max_changes,
            concurrency=self.clients.tuning.workers,
            verify_live=self.saved is not None,
            match_rendering=self.saved is not None,
            include_provider=self.scope.include_provider,
        )
        if max_changes is None or self.saved is not None:
            # Organizations may have changed since any plan: check before anything is read or written.
            # (A two-phase run without a saved plan checks them as it plans.)
            verify_principals(self.registries)
        matched: set[str] = set()
        try:
            if max_changes is None:
                summary = stream(
                    self.desired,
                    self.registries,
                    self.saved,
                    scope=self.scope,
                    clients=self.clients,
                    options=options,
                    report=report,
                    matched=matched,
                    on_registry=on_registry,
                )
            else:
                summary = self._two_phases(options, report, matched, on_plan)
        except BaseException as exc:
            on_ended_early(exc)
            raise
        return Applied(summary, matched)

    def _two_phases(
        self, options: ApplyOptions, report: Path, matched: set[str], on_plan: Callable[[Plan], None]
    ) -> ApplySummary:
        """Read everything, count, then write: refuses before the first write."""
        plan = self.saved or self.plan()
        if self.scope.repositories and not any(r.error for r in plan.registries):
            refuse_unmatched_globs(self.scope.repositories, plan_repositories(plan), self._where)
        matched.update(self.scope.repositories)  # checked here, before any write
        on_plan(plan)
        chosen = [self.desired.registry(r.registry) for r in plan.registries]
        return execute(plan, chosen, scope=self.scope, clients=self.clients, options=options, report=report)

    def refuse_unmatched(self, applied: Applied) -> None:
        """After a run that went well, a `--repository` glob that matched no repository is an error (a
        registry that could not be listed may hold a match: its error says so)."""
        if applied.summary.ok:
            left = set(self.scope.repositories) - applied.matched
            refuse_globs_left(self.scope.repositories, left, self._where)

    @property
    def _where(self) -> str:
        return managed_where(self.registries)


def make_plan(
    policies: str | Path,
    scope: Scope,
    tuning: Tuning,
    *,
    since: str | Path | None = None,
    snapshot_out: str | Path | None = None,
) -> Plan:
    """The plan of policies/ (the read role)."""
    refuse_partial_snapshot(scope, since, snapshot_out)
    return Run.to_plan(policies, scope, tuning).plan(since=since, snapshot_out=snapshot_out)
