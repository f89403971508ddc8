"""What an apply is asked to do (ApplyOptions) and what it did: one Outcome per write, and the run's
ApplySummary (counted from worker threads). The blast-radius check that runs before the first write."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.apply.journal import Result, TargetKind
from reconciler.errors import ReconcilerError
from reconciler.plan.model import Action, Plan

WRITE_ACTIONS = (Action.CREATE, Action.UPDATE, Action.DELETE)


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    max_changes: int | None = None
    concurrency: int = 8
    verify_live: bool = False  # re-read before each write (a saved plan may be old)
    # A saved plan: write a change only if it is what the desired registry renders from its `before`.
    match_rendering: bool = False
    include_provider: bool = True
    # Journal a target found already in line (an apply: its report says what became of every planned
    # change); a restore does not (it says "already restored" itself, and wrote nothing).
    journal_in_line: bool = True


@dataclass(frozen=True)
class Outcome:
    registry: str
    target: TargetKind
    name: str
    action: Action
    result: Result
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
    results: Counter[Result] = field(default_factory=Counter)
    new_since_plan: int = 0  # with a saved plan: repositories it did not know, read and brought in line
    swept: int = 0  # repositories that appeared during the pass, brought in line by the closing sweep
    # Repositories that appeared after the closing sweep: not read, not written; the next run does them.
    left_for_next_run: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self.results[outcome.result] += 1
            if self.keep_applied or outcome.result not in (Result.APPLIED, Result.DRY_RUN, Result.IN_LINE):
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

    def count(self, result: Result) -> int:
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
        in_line = self.count(Result.IN_LINE)
        already = f", {in_line} already in line" if in_line else ""
        return (
            f"{head}, {self.unchanged} unchanged{already}{gone}{new}, {self.count(Result.STALE)} stale, "
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
