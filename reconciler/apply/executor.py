"""Apply a plan: provider config and creation templates first (so new repositories get the policy), then
repositories.

Per write: run the last gate on the exact text being sent (the desired registry's `managed_sids` tell our
statements, which must be pull only, from foreign ones, which must not be public); with a saved plan, check
that the change is exactly what `policies/` renders from the policy it was planned against, then re-read
the live policy and skip it as stale if it changed since the plan; write; record before/after in the
journal. One failing repository never stops the others.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.journal import Journal, Result, WriteRecord
from reconciler.desired.model import NullplatformTarget, Registry
from reconciler.errors import GuardViolation, ReconcilerError, StaleTarget, was_sent
from reconciler.live import stop
from reconciler.live import templates as shapes
from reconciler.live.state import REPOSITORY_NOT_FOUND, LivePolicy
from reconciler.plan.build import saved_change_problem, saved_provider_problem, saved_template_problem
from reconciler.plan.fingerprint import live_fingerprint
from reconciler.plan.model import (
    Action,
    Plan,
    ProviderChange,
    RegistryPlan,
    RepositoryChange,
    TemplateChange,
)
from reconciler.policy import guard

WRITE_ACTIONS = (Action.CREATE, Action.UPDATE, Action.DELETE)


class RepositoryWriter(Protocol):
    """What the executor needs from an ECR client (reconciler.live.ecr.EcrClient)."""

    def read_policy(self, repository: str) -> LivePolicy: ...

    def set_policy(self, repository: str, text: str) -> str: ...

    def delete_policy(self, repository: str) -> None: ...


class TemplateWriter(Protocol):
    """What the executor needs for creation templates (reconciler.live.ecr.EcrClient)."""

    def read_template(self, prefix: str) -> dict[str, Any] | None: ...

    def create_template(self, request: dict[str, Any]) -> None: ...

    def update_template(self, request: dict[str, Any]) -> None: ...

    def delete_template(self, prefix: str) -> None: ...


class ProviderWriter(Protocol):
    """What the executor needs from the nullplatform client."""

    def find_provider_id(self, target: NullplatformTarget) -> str: ...

    def read_policy(self, provider_id: str) -> str | None: ...

    def write_policy(self, provider_id: str, policy: str, expected_before: str | None) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    max_changes: int | None = None
    concurrency: int = 8
    verify_live: bool = False  # re-read before each write (a saved plan may be old)
    # A saved plan: write a change only if it is what the desired registry renders from its `before`.
    match_rendering: bool = False
    include_provider: bool = True


@dataclass(frozen=True)
class Outcome:
    registry: str
    target: str
    name: str
    action: str
    result: str
    error: str | None = None


@dataclass
class ApplySummary:
    """What a run did. Safe to add to from worker threads.

    With `keep_applied` False (a streamed apply) only the outcomes a person must read (failed, stale) are
    kept, and the others only counted: memory stays flat however many repositories are written.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    unchanged: int = 0
    gone: int = 0  # deleted between the listing and the read: nothing to write, not a failure
    plan_errors: list[Outcome] = field(default_factory=list)
    keep_applied: bool = True
    results: Counter[str] = field(default_factory=Counter)
    new_since_plan: int = 0  # with a saved plan: repositories it did not know, read and brought in line
    swept: int = 0  # repositories that appeared during the pass, brought in line by the closing sweep
    # Repositories that appeared after the closing sweep: not read, not written; the next run does them.
    left_for_next_run: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self.results[outcome.result] += 1
            if self.keep_applied or outcome.result not in (Result.APPLIED, Result.DRY_RUN):
                self.outcomes.append(outcome)

    def add_plan_error(self, outcome: Outcome) -> None:
        with self._lock:
            self.plan_errors.append(outcome)

    def tally(self, *, unchanged: int = 0, gone: int = 0, new_since_plan: int = 0, swept: int = 0) -> None:
        with self._lock:
            self.unchanged += unchanged
            self.gone += gone
            self.new_since_plan += new_since_plan
            self.swept += swept

    def count(self, result: str) -> int:
        return self.results[result]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.result == Result.FAILED] + self.plan_errors

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        applied = self.count(Result.APPLIED)
        dry = self.count(Result.DRY_RUN)
        head = f"Apply: {applied} applied" if not dry else f"Dry run: {dry} would be applied"
        gone = f", {self.gone} gone" if self.gone else ""
        new = f", {self.new_since_plan} new since plan" if self.new_since_plan else ""
        left = f", {len(self.left_for_next_run)} left for the next run" if self.left_for_next_run else ""
        return (
            f"{head}, {self.unchanged} unchanged{gone}{new}, {self.count(Result.STALE)} stale, "
            f"{len(self.failed)} failed{left}"
        )


def count_changes(plan: Plan, include_provider: bool) -> int:
    repositories = sum(1 for r in plan.registries for c in r.changes if c.action in WRITE_ACTIONS)
    providers = sum(
        1
        for r in plan.registries
        if include_provider and r.provider is not None and r.provider.action in WRITE_ACTIONS
    )
    # Creation templates go with the provider config: both are for repositories created from now on.
    templates = sum(
        1 for r in plan.registries for t in r.templates if include_provider and t.action in WRITE_ACTIONS
    )
    return repositories + providers + templates


def check_blast_radius(plan: Plan, options: ApplyOptions) -> None:
    changes = count_changes(plan, options.include_provider)
    if options.max_changes is not None and changes > options.max_changes:
        raise ReconcilerError(
            f"the plan has {changes} changes, more than --max-changes {options.max_changes}; "
            "nothing was written (narrow it with --registry/--repository, or raise the limit)"
        )


class Executor:
    def __init__(
        self,
        registry: RegistryPlan,
        *,
        desired: Registry,
        role_arn: str | None,
        ecr: RepositoryWriter,
        provider: ProviderWriter | None,
        journal: Journal,
        options: ApplyOptions,
        on_done: Callable[[], None] | None = None,
        templates: TemplateWriter | None = None,
    ) -> None:
        self.templates = templates
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
        target: str,
        name: str,
        action: Action,
        before: str | None,
        after: str | None,
        result: str,
        error: str | None = None,
        applied_for: tuple[tuple[str, ...] | None, tuple[str, ...] | None] = (None, None),
        sent: bool = False,
    ) -> Outcome:
        if result != Result.DRY_RUN:
            self.journal.record(
                WriteRecord(
                    registry=self.registry.registry,
                    # The desired registry's: the one the clients write to (a plan file's are not trusted).
                    account_id=self.desired.account_id,
                    region=self.desired.region,
                    role_arn=self.role_arn,
                    target=target,
                    name=name,
                    action=action.value,
                    before=before,
                    after=after,
                    result=result,
                    error=error,
                    applied_for_before=None if applied_for[0] is None else list(applied_for[0]),
                    applied_for_after=None if applied_for[1] is None else list(applied_for[1]),
                    sent=sent,
                )
            )
        return Outcome(self.registry.registry, target, name, action.value, result, error)

    def apply_provider(self, change: ProviderChange) -> Outcome | None:
        if change.action not in WRITE_ACTIONS or change.after is None or change.provider_id is None:
            return None
        name = change.provider_id
        if self.provider is None:
            return Outcome(
                self.registry.registry,
                "provider",
                name,
                change.action.value,
                Result.FAILED,
                "nullplatform is not configured (set NULLPLATFORM_API_KEY)",
            )
        try:
            guard.check_text(change.after, self.desired.owns_sid)
            if self.options.match_rendering:
                self._check_saved_provider(change)
            if self.options.verify_live:
                current = self.provider.read_policy(name)
                if live_fingerprint(current) != live_fingerprint(change.before):
                    return self._record(
                        "provider",
                        name,
                        change.action,
                        current,
                        change.after,
                        Result.STALE,
                        "the provider policy changed since the plan",
                    )
            if self.options.dry_run:
                return self._record(
                    "provider", name, change.action, change.before, change.after, Result.DRY_RUN
                )
            self._record("provider", name, change.action, change.before, change.after, Result.PENDING)
            self.provider.write_policy(name, change.after, change.before)
        except StaleTarget as exc:
            return self._record(
                "provider", name, change.action, exc.live, change.after, Result.STALE, str(exc)
            )
        except ReconcilerError as exc:
            return self._record(
                "provider",
                name,
                change.action,
                change.before,
                change.after,
                Result.FAILED,
                str(exc),
                sent=was_sent(exc),
            )
        return self._record("provider", name, change.action, change.before, change.after, Result.APPLIED)

    def _check_saved_provider(self, change: ProviderChange) -> None:
        problem = saved_provider_problem(self.desired, change)
        target = self.desired.nullplatform
        if problem is None and self.provider is not None and target is not None:
            # policies/ may name the provider by NRN only: the id in the file must be the one found there.
            found = self.provider.find_provider_id(target)
            if found != change.provider_id:
                problem = f"the plan file names provider {change.provider_id}, but {target.nrn} holds {found}"
        if problem is not None:
            raise GuardViolation(problem)

    def apply_template(self, change: TemplateChange) -> Outcome | None:
        """One creation template: last gate, (saved plan) re-derivation, a fresh read (the write sends every
        field back, docs/AWS.md "Repository creation templates"), stale unless it still is what was
        planned, write, read back and verify (the policy and appliedFor as written, every other field as it
        was)."""
        if change.action not in WRITE_ACTIONS:
            return None
        deleting = change.action == Action.DELETE
        after = None if deleting else change.after
        applied_for_after = None if deleting else change.applied_for_after
        applied_for = (change.applied_for_before, applied_for_after)

        def record(
            result: str, error: str | None = None, before: str | None = change.before, sent: bool = False
        ) -> Outcome:
            return self._record(
                "template", change.prefix, change.action, before, after, result, error, applied_for, sent
            )

        if self.templates is None:
            return record(Result.FAILED, "no ECR client for creation templates")
        try:
            if not deleting:
                if after is None:
                    raise GuardViolation("the plan has no policy text for this template")
                guard.check_text(after, self.desired.owns_sid)
            if self.options.match_rendering:
                problem = saved_template_problem(self.desired, change)
                if problem is not None:
                    raise GuardViolation(problem)
            current = self.templates.read_template(change.prefix)
            stale = _template_stale(change, current)
            if stale is not None:
                return record(Result.STALE, stale, shapes.policy_of(current))
            if self.options.dry_run:
                return record(Result.DRY_RUN)
            record(Result.PENDING)
            if change.action == Action.CREATE and after is not None:
                self.templates.create_template(
                    shapes.create_request(change.prefix, after, change.applied_for_after)
                )
            elif change.action == Action.UPDATE and after is not None and current is not None:
                self.templates.update_template(
                    shapes.update_request(current, after, change.applied_for_after)
                )
            else:
                self.templates.delete_template(change.prefix)
            problem = _template_not_as_written(change, current, self.templates.read_template(change.prefix))
        except ReconcilerError as exc:
            return record(Result.FAILED, str(exc), sent=was_sent(exc))
        if problem is not None:
            return record(Result.FAILED, problem, sent=True)  # the call succeeded: it landed, not as asked
        return record(Result.APPLIED)

    def apply_repository(self, change: RepositoryChange, *, just_read: bool = False) -> Outcome:
        """Write one change. `just_read`: the change was decided in this run from a policy read moments
        ago (a streamed apply), not taken from a saved plan, so there is nothing to re-derive or re-read;
        the last gate runs all the same."""
        try:
            return self._apply_repository(change, just_read)
        finally:
            if self.on_done:
                self.on_done()

    def _apply_repository(self, change: RepositoryChange, just_read: bool) -> Outcome:
        name, before = change.repository, change.before
        after = None if change.action == Action.DELETE else change.after
        try:
            if change.action != Action.DELETE:
                if after is None:
                    raise GuardViolation("the plan has no policy text for this change")
                # The last gate, on the exact bytes we send: ours pull only, nothing public, within size.
                guard.check_text(after, self.desired.owns_sid)
            if self.options.match_rendering and not just_read:
                problem = saved_change_problem(self.desired, change)
                if problem is not None:
                    raise GuardViolation(problem)
        except ReconcilerError as exc:
            return self._record("repository", name, change.action, before, after, Result.FAILED, str(exc))
        if self.options.verify_live and not just_read:
            live = self.ecr.read_policy(name)
            if live.error is not None:
                # A repository deleted since the plan needs no policy: stale, not a failure.
                result = Result.STALE if live.gone else Result.FAILED
                return self._record("repository", name, change.action, before, after, result, live.error)
            if live_fingerprint(live.text) != change.live_fingerprint:
                return self._record(
                    "repository",
                    name,
                    change.action,
                    live.text,
                    after,
                    Result.STALE,
                    "the live policy changed since the plan; plan again",
                )
        try:
            if self.options.dry_run:
                return self._record("repository", name, change.action, before, after, Result.DRY_RUN)
            # Write-ahead: if the run is killed while this call is in flight, the report still names it.
            stop.check()  # a stopped run starts no write (and leaves no `pending` line for one)
            self._record("repository", name, change.action, before, after, Result.PENDING)
            if after is None:
                self.ecr.delete_policy(name)
            else:
                self.ecr.set_policy(name, after)
        except ReconcilerError as exc:
            # Deleted since it was read: it needs no policy any more. Stale, as with a saved plan.
            gone = getattr(exc, "code", None) == REPOSITORY_NOT_FOUND
            result = Result.STALE if gone else Result.FAILED
            sent = was_sent(exc) and not gone
            return self._record("repository", name, change.action, before, after, result, str(exc), sent=sent)
        return self._record("repository", name, change.action, before, after, Result.APPLIED)

    def _plan_error(self, target: str, name: str, error: str | None) -> Outcome:
        """A failure found while planning: nothing is written, but the report says so."""
        return self._record(target, name, Action.ERROR, None, None, Result.FAILED, error)

    def registry_error(self, error: str | None, summary: ApplySummary) -> Outcome:
        outcome = self._plan_error("registry", self.registry.registry, error)
        summary.add_plan_error(outcome)
        return outcome

    def settle_provider(self, change: ProviderChange, summary: ApplySummary) -> Outcome | None:
        """Write the provider config's change, or report why not; the outcome, None when nothing to do."""
        if change.action == Action.ERROR:
            error = self._plan_error("provider", change.provider_id or change.nrn, change.error)
            summary.add_plan_error(error)
            return error
        outcome = self.apply_provider(change)
        if outcome is not None:
            summary.add(outcome)
        return outcome

    def settle_template(self, change: TemplateChange, summary: ApplySummary) -> Outcome | None:
        """Write one creation template's change, or report why not; the outcome, None when nothing to do."""
        if change.action == Action.ERROR:
            error = self._plan_error("template", change.prefix, change.error)
            summary.add_plan_error(error)
            return error
        outcome = self.apply_template(change)
        if outcome is not None:
            summary.add(outcome)
        return outcome

    def settle_repository(
        self, change: RepositoryChange, summary: ApplySummary, *, just_read: bool = False
    ) -> Outcome | None:
        """Write one repository's change, or count it; the outcome, None when there was nothing to do."""
        if change.action == Action.ERROR:
            outcome = self._plan_error("repository", change.repository, change.error)
            summary.add_plan_error(outcome)
            return outcome
        if change.action not in WRITE_ACTIONS:
            summary.tally(unchanged=1)
            return None
        outcome = self.apply_repository(change, just_read=just_read)
        summary.add(outcome)
        return outcome

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


def _template_stale(change: TemplateChange, current: dict[str, Any] | None) -> str | None:
    """Why the template is no longer what the change was planned against, or None."""
    if change.action == Action.CREATE:
        return None if current is None else "a template with this prefix was created since the plan"
    if current is None:
        return "the template was deleted since the plan"
    if live_fingerprint(shapes.policy_of(current)) != change.live_fingerprint:
        return "the template's policy changed since the plan; plan again"
    if shapes.applied_for_of(current) != change.applied_for_before:
        return "the template's appliedFor changed since the plan; plan again"
    if change.action == Action.DELETE:
        # Only a template that holds nothing but what the apply set goes: never lose someone's settings.
        extra = shapes.set_since_created(current)
        if extra:
            return f"the template also has {', '.join(extra)} set since it was created; left as it is"
    return None


def _template_not_as_written(
    change: TemplateChange, before: dict[str, Any] | None, written: dict[str, Any] | None
) -> str | None:
    """What the read-back shows went wrong with a template write, or None (names, never values)."""
    call = {
        Action.CREATE: "CreateRepositoryCreationTemplate",
        Action.UPDATE: "UpdateRepositoryCreationTemplate",
    }
    if change.action == Action.DELETE:
        return (
            None if written is None else "after DeleteRepositoryCreationTemplate the template is still there"
        )
    name = call[change.action]
    if written is None:
        return f"after {name} there is no template with this prefix"
    problems = []
    # By meaning: ECR may hand a policy back reformatted (docs/AWS.md, "Policies come back reformatted").
    if live_fingerprint(shapes.policy_of(written)) != live_fingerprint(change.after):
        problems.append("repositoryPolicy is not what was written")
    if shapes.applied_for_of(written) != change.applied_for_after:
        problems.append("appliedFor is not what was written")
    if before is not None:
        problems += [f"{field} changed" for field in shapes.changed_fields(before, written)]
    return f"after {name}: " + "; ".join(problems) if problems else None


def merge_summaries(summaries: Sequence[ApplySummary]) -> ApplySummary:
    merged = ApplySummary()
    for s in summaries:
        merged.outcomes.extend(s.outcomes)
        merged.plan_errors.extend(s.plan_errors)
        merged.results.update(s.results)
        merged.unchanged += s.unchanged
        merged.gone += s.gone
        merged.new_since_plan += s.new_since_plan
        merged.swept += s.swept
        merged.left_for_next_run.extend(s.left_for_next_run)
    return merged
