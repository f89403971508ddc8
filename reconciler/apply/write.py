"""The one write sequence every target goes through (a repository policy, the nullplatform provider config,
a creation template), and the Protocol its target adapters (reconciler.apply.targets) implement.

In order: the last gate on the exact text being sent (the desired registry's `managed_sids` tell our
statements, which must be pull only, from foreign ones, which must not be public); with a saved plan, that
the change is what `policies/` renders from the policy it was planned against; the target read again and
skipped if it changed since the plan (`stale`), unless it now means exactly what the change would write
(`in-line`: another run wrote the same; nothing is sent, nothing journaled); the dry run stops there; a
`pending` line (write-ahead: a run killed during the call still names it); the write; the target read back
where the API may not have done what was asked; the line that settles it (`settles`: only a line after
the sequence's own `pending` line settles one; a line written before any send leaves an earlier run's
`pending` line for restore to check). Having one sequence puts the gate and the stale check in one place
for every target: a restore (which re-derives nothing) relies on both, and on `in-line` to tell a target
it already put back from one someone else changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from reconciler.apply.journal import Result, TargetKind
from reconciler.apply.summary import ApplyOptions, Outcome
from reconciler.desired.model import Registry
from reconciler.errors import GuardViolation, ReconcilerError, StaleTarget, was_sent
from reconciler.live import stop
from reconciler.plan.model import Action
from reconciler.policy import guard

AppliedFor = tuple[str, ...] | None


@dataclass(frozen=True)
class Planned:
    """One write as the report records it: to what, which, the action, and the policy before and after
    (None after: the policy, or the template, is deleted)."""

    kind: TargetKind
    name: str
    action: Action
    before: str | None
    after: str | None
    # Creation templates only: appliedFor before and after (None: there was, or is, no template).
    applied_for: tuple[AppliedFor, AppliedFor] = (None, None)


@dataclass(frozen=True)
class Skip:
    """Why a target is not written after all, found when it was read again: `before` is what it holds."""

    # stale (changed, or gone, since the plan), failed (could not be read), or in-line (changed, but it
    # already means what the change would write: no error)
    result: Result
    error: str | None
    before: str | None


class WriteTarget(Protocol):
    """One change to one target, and the calls the write sequence makes on that target's client."""

    @property
    def planned(self) -> Planned: ...

    def saved_problem(self, desired: Registry) -> str | None:
        """With a saved plan: why the change is not what `policies/` renders, or None."""

    def changed_since(self, verify_live: bool) -> Skip | None:
        """Read the target again (when asked, or when the write needs it): a Skip if it is no longer what
        the change was planned against."""

    def send(self) -> None:
        """The write itself."""

    def not_as_written(self) -> str | None:
        """What reading the target back shows went wrong, or None (names, never values)."""

    def failure(self, error: ReconcilerError) -> Result:
        """The result of a write that raised `error`: failed, or stale when the target is gone."""


class Recorder(Protocol):
    """Journals one line; `settles`: this sequence wrote its own `pending` line before this one."""

    def __call__(
        self,
        planned: Planned,
        result: Result,
        error: str | None = None,
        *,
        sent: bool = False,
        settles: bool = False,
    ) -> Outcome: ...


def write(target: WriteTarget, desired: Registry, options: ApplyOptions, record: Recorder) -> Outcome:
    """Take one change through the sequence; `record` journals each step's line and returns the outcome."""
    planned = target.planned
    # Set once our own `pending` line is out: only then does the closing line settle a `pending` line (one
    # before that is an earlier run's, whose write may have landed).
    pending = False
    try:
        if planned.after is not None:
            # The last gate, on the exact bytes we send: ours pull only, nothing public, within size.
            guard.check_text(planned.after, desired.owns_sid)
        elif planned.action != Action.DELETE:
            raise GuardViolation(f"the plan has no policy text for this {planned.kind}")
        if options.match_rendering:
            problem = target.saved_problem(desired)
            if problem is not None:
                raise GuardViolation(problem)
        skip = target.changed_since(options.verify_live)
        if skip is not None:
            return record(replace(planned, before=skip.before), skip.result, skip.error)
        if options.dry_run:
            return record(planned, Result.DRY_RUN)
        stop.check()  # a stopped run starts no write (and leaves no `pending` line for one)
        record(planned, Result.PENDING)
        pending = True
        target.send()
        problem = target.not_as_written()
    except StaleTarget as exc:  # the client found it changed, at the write itself
        return record(replace(planned, before=exc.live), Result.STALE, str(exc), settles=pending)
    except ReconcilerError as exc:
        result = target.failure(exc)
        sent = result == Result.FAILED and was_sent(exc)
        return record(planned, result, str(exc), sent=sent, settles=pending)
    if problem is not None:  # the call succeeded: landed, not as asked
        return record(planned, Result.FAILED, problem, sent=True, settles=True)
    return record(planned, Result.APPLIED, settles=True)
