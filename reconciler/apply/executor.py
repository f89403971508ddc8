"""Apply a plan: provider config and creation templates first (so new repositories get the policy), then
repositories.

Every write goes through one sequence (reconciler.apply.write: last gate, saved-plan re-derivation, stale
check, dry run, write-ahead line, write, read-back, settling line) with an adapter for its target
(reconciler.apply.targets). The executor picks the adapter, journals each line with the registry's
coordinates, and counts outcomes. One failing repository never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from reconciler.apply.journal import Journal, Result, TargetKind, WriteRecord
from reconciler.apply.summary import (
    WRITE_ACTIONS,
    ApplyOptions,
    ApplySummary,
    Outcome,
    check_blast_radius,
    count_changes,
    merge_summaries,
)
from reconciler.apply.targets import (
    EcrWriter,
    ProviderTarget,
    ProviderWriter,
    RepositoryTarget,
    RepositoryWriter,
    TemplateTarget,
    TemplateWriter,
)
from reconciler.apply.write import Planned, WriteTarget, write
from reconciler.desired.model import Registry
from reconciler.plan.model import Action, ProviderChange, RegistryPlan, RepositoryChange, TemplateChange

# Callers import these from here (the names the executor has always offered).
__all__ = [
    "WRITE_ACTIONS",
    "ApplyOptions",
    "ApplySummary",
    "EcrWriter",
    "Executor",
    "Outcome",
    "ProviderWriter",
    "RepositoryWriter",
    "TemplateWriter",
    "check_blast_radius",
    "count_changes",
    "merge_summaries",
]


class Executor:
    """Writes one registry's changes. `ecr` writes its repositories and its creation templates; `provider`
    (None: nullplatform is not configured) its provider config."""

    def __init__(
        self,
        registry: RegistryPlan,
        *,
        desired: Registry,
        role_arn: str | None,
        ecr: EcrWriter,
        provider: ProviderWriter | None,
        journal: Journal,
        options: ApplyOptions,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.registry = registry
        self.desired = desired
        self.role_arn = role_arn
        self.ecr = ecr
        self.provider = provider
        self.journal = journal
        self.options = options
        self.on_done = on_done

    def _record(
        self,
        planned: Planned,
        result: Result,
        error: str | None = None,
        *,
        sent: bool = False,
        settles: bool = False,
    ) -> Outcome:
        """Journal one line of a write and return it as an outcome. A dry run journals none; a target
        already in line, only where the options ask (restore passes it by: restore ignores such lines)."""
        in_line_wanted = self.options.journal_in_line and not self.options.dry_run
        if result != Result.DRY_RUN and (result != Result.IN_LINE or in_line_wanted):
            applied_for_before, applied_for_after = planned.applied_for
            self.journal.record(
                WriteRecord(
                    registry=self.registry.registry,
                    # The desired registry's: the one the clients write to (a plan file's are not trusted).
                    account_id=self.desired.account_id,
                    region=self.desired.region,
                    role_arn=self.role_arn,
                    target=planned.kind,
                    name=planned.name,
                    action=planned.action,
                    before=planned.before,
                    after=planned.after,
                    result=result,
                    error=error,
                    applied_for_before=None if applied_for_before is None else list(applied_for_before),
                    applied_for_after=None if applied_for_after is None else list(applied_for_after),
                    sent=sent,
                    # Every line written today says whether it settles a `pending` line: only the write
                    # sequence knows (a planning failure, `pending` or `in-line` line never does).
                    settles=settles,
                )
            )
        return Outcome(self.registry.registry, planned.kind, planned.name, planned.action, result, error)

    def _write(self, target: WriteTarget) -> Outcome:
        return write(target, self.desired, self.options, self._record)

    def apply_provider(self, change: ProviderChange) -> Outcome | None:
        if change.action not in WRITE_ACTIONS or change.after is None or change.provider_id is None:
            return None
        if self.provider is None:
            return Outcome(
                self.registry.registry,
                TargetKind.PROVIDER,
                change.provider_id,
                change.action,
                Result.FAILED,
                "nullplatform is not configured (set NULLPLATFORM_API_KEY)",
            )
        return self._write(ProviderTarget(self.provider, change, change.provider_id))

    def apply_template(self, change: TemplateChange) -> Outcome | None:
        if change.action not in WRITE_ACTIONS:
            return None
        return self._write(TemplateTarget(self.ecr, change))

    def apply_repository(self, change: RepositoryChange, *, just_read: bool = False) -> Outcome:
        """Write one change. `just_read`: decided in this run from a policy read moments ago (a streamed
        apply), not taken from a saved plan: nothing to re-derive or re-read; the last gate runs all the
        same."""
        try:
            return self._write(RepositoryTarget(self.ecr, change, just_read))
        finally:
            if self.on_done:
                self.on_done()

    def _plan_error(self, kind: TargetKind, name: str, error: str | None) -> Outcome:
        """A failure found while planning: nothing is written, but the report says so."""
        return self._record(Planned(kind, name, Action.ERROR, None, None), Result.FAILED, error)

    def registry_error(self, error: str | None, summary: ApplySummary) -> Outcome:
        outcome = self._plan_error(TargetKind.REGISTRY, self.registry.registry, error)
        summary.add_plan_error(outcome)
        return outcome

    def settle_provider(self, change: ProviderChange, summary: ApplySummary) -> Outcome | None:
        """Write the provider config's change, or report why not; the outcome, None when nothing to do."""
        if change.action == Action.ERROR:
            error = self._plan_error(TargetKind.PROVIDER, change.provider_id or change.nrn, change.error)
            summary.add_plan_error(error)
            return error
        return _added(self.apply_provider(change), summary)

    def settle_template(self, change: TemplateChange, summary: ApplySummary) -> Outcome | None:
        """Write one creation template's change, or report why not; the outcome, None when nothing to do."""
        if change.action == Action.ERROR:
            error = self._plan_error(TargetKind.TEMPLATE, change.prefix, change.error)
            summary.add_plan_error(error)
            return error
        return _added(self.apply_template(change), summary)

    def settle_repository(
        self, change: RepositoryChange, summary: ApplySummary, *, just_read: bool = False
    ) -> Outcome | None:
        """Write one repository's change, or count it; the outcome, None when there was nothing to do."""
        if change.action == Action.ERROR:
            outcome = self._plan_error(TargetKind.REPOSITORY, change.repository, change.error)
            summary.add_plan_error(outcome)
            return outcome
        if change.action not in WRITE_ACTIONS:
            summary.tally(unchanged=1)
            return None
        return _added(self.apply_repository(change, just_read=just_read), summary)

    def run(self) -> ApplySummary:
        """Write a whole plan: the provider config, then its repository changes in a bounded pool."""
        summary = ApplySummary(unchanged=len(self.registry.unchanged), gone=len(self.registry.gone))
        if self.registry.error:
            self.registry_error(self.registry.error, summary)
            return summary
        provider = self.registry.provider
        if provider is not None and self.options.include_provider:
            self.settle_provider(provider, summary)
        # Templates before repositories, like the provider config: a template applies only to repositories
        # created after it is set, and every repository created before that is in the listing that follows.
        for template in self.registry.templates if self.options.include_provider else ():
            self.settle_template(template, summary)
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            for _ in pool.map(lambda c: self.settle_repository(c, summary), self.registry.changes):
                pass
        return summary


def _added(outcome: Outcome | None, summary: ApplySummary) -> Outcome | None:
    if outcome is not None:
        summary.add(outcome)
    return outcome
