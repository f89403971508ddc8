"""The three targets the write sequence (reconciler.apply.write) writes, each a small adapter over its
client: a repository policy (ECR), the nullplatform provider config's `setup.policy`, and an ECR creation
template (its `repositoryPolicy` and `appliedFor`). Each says how to read it again, write it and, where the
API may not do exactly what was asked, read it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.apply.journal import Result, TargetKind
from reconciler.apply.write import Planned, Skip
from reconciler.desired.model import NullplatformTarget, Registry, applied_for_order
from reconciler.errors import GuardViolation, ReconcilerError
from reconciler.live import templates as shapes
from reconciler.live.state import REPOSITORY_NOT_FOUND, LivePolicy
from reconciler.plan.model import Action, ProviderChange, RepositoryChange, TemplateChange
from reconciler.plan.saved import saved_change_problem, saved_provider_problem, saved_template_problem
from reconciler.policy.fingerprint import live_fingerprint


class RepositoryWriter(Protocol):
    """What the executor needs from an ECR client for repositories (reconciler.live.ecr.EcrClient)."""

    def read_policy(self, repository: str) -> LivePolicy: ...

    def set_policy(self, repository: str, text: str) -> str: ...

    def delete_policy(self, repository: str) -> None: ...


class TemplateWriter(Protocol):
    """What the executor needs for creation templates (reconciler.live.ecr.EcrClient)."""

    def read_template(self, prefix: str) -> dict[str, Any] | None: ...

    def create_template(self, request: dict[str, Any]) -> None: ...

    def update_template(self, request: dict[str, Any]) -> None: ...

    def delete_template(self, prefix: str) -> None: ...


class EcrWriter(RepositoryWriter, TemplateWriter, Protocol):
    """One ECR client writes a registry's repositories and its creation templates."""


class ProviderWriter(Protocol):
    """What the executor needs from the nullplatform client."""

    def find_provider_id(self, target: NullplatformTarget) -> str: ...

    def read_policy(self, provider_id: str) -> str | None: ...

    def write_policy(self, provider_id: str, policy: str, expected_before: str | None) -> None: ...


def _in_line(live: str | None) -> Skip:
    """Changed since the plan, but it already means what the change would write (another run wrote the
    same): nothing to send, and nothing stale about it."""
    return Skip(Result.IN_LINE, None, live)


@dataclass
class RepositoryTarget:
    """A repository policy. `just_read`: the change was decided in this run from a policy read moments ago
    (a streamed apply), not taken from a saved plan: there is nothing to re-derive or read again."""

    client: RepositoryWriter
    change: RepositoryChange
    just_read: bool = False

    @property
    def planned(self) -> Planned:
        change = self.change
        after = None if change.action == Action.DELETE else change.after
        return Planned(TargetKind.REPOSITORY, change.repository, change.action, change.before, after)

    def saved_problem(self, desired: Registry) -> str | None:
        return None if self.just_read else saved_change_problem(desired, self.change)

    def changed_since(self, verify_live: bool) -> Skip | None:
        if not verify_live or self.just_read:
            return None
        live = self.client.read_policy(self.change.repository)
        if live.error is not None:
            # A repository deleted since the plan needs no policy: stale, not a failure.
            return Skip(Result.STALE if live.gone else Result.FAILED, live.error, self.change.before)
        if live_fingerprint(live.text) == self.change.live_fingerprint:
            return None
        if live_fingerprint(live.text) == live_fingerprint(self.planned.after):
            return _in_line(live.text)  # another run wrote the same (a DELETE: there is no policy now)
        return Skip(Result.STALE, "the live policy changed since the plan; plan again", live.text)

    def send(self) -> None:
        after = self.planned.after
        if after is None:
            self.client.delete_policy(self.change.repository)
        else:
            self.client.set_policy(self.change.repository, after)

    def not_as_written(self) -> str | None:
        return None  # a repository policy is not read back: the next plan shows any difference

    def failure(self, error: ReconcilerError) -> Result:
        # Deleted since it was read: it needs no policy any more. Stale, as with a saved plan.
        gone = getattr(error, "code", None) == REPOSITORY_NOT_FOUND
        return Result.STALE if gone else Result.FAILED


@dataclass
class ProviderTarget:
    """The nullplatform provider config's `setup.policy` (the client writes only that attribute, and refuses
    with StaleTarget when the policy is no longer `expected_before`)."""

    client: ProviderWriter
    change: ProviderChange
    provider_id: str

    @property
    def planned(self) -> Planned:
        change = self.change
        return Planned(TargetKind.PROVIDER, self.provider_id, change.action, change.before, change.after)

    def saved_problem(self, desired: Registry) -> str | None:
        problem = saved_provider_problem(desired, self.change)
        target = desired.nullplatform
        if problem is None and target is not None:
            # policies/ may name the provider by NRN only: the id in the file must be the one found there.
            found = self.client.find_provider_id(target)
            if found != self.provider_id:
                return f"the plan file names provider {self.provider_id}, but {target.nrn} holds {found}"
        return problem

    def changed_since(self, verify_live: bool) -> Skip | None:
        if not verify_live:
            return None
        current = self.client.read_policy(self.provider_id)
        if live_fingerprint(current) == live_fingerprint(self.change.before):
            return None
        if self.change.after is not None and live_fingerprint(current) == live_fingerprint(self.change.after):
            return _in_line(current)
        return Skip(Result.STALE, "the provider policy changed since the plan", current)

    def send(self) -> None:
        if self.change.after is None:  # settle_provider never writes such a change: nothing to set
            raise GuardViolation("the plan has no policy text for the provider config")
        self.client.write_policy(self.provider_id, self.change.after, self.change.before)

    def not_as_written(self) -> str | None:
        return None

    def failure(self, error: ReconcilerError) -> Result:
        return Result.FAILED


_CALLS = {
    Action.CREATE: "CreateRepositoryCreationTemplate",
    Action.UPDATE: "UpdateRepositoryCreationTemplate",
}


@dataclass
class TemplateTarget:
    """A creation template. It is always read again: the update sends every field back (ECR's
    UpdateRepositoryCreationTemplate replaces what it is not given), and read back after the write: the
    policy and appliedFor must be as written, every other field as it was."""

    client: TemplateWriter
    change: TemplateChange
    current: dict[str, Any] | None = field(default=None, init=False)

    @property
    def planned(self) -> Planned:
        change = self.change
        deleting = change.action == Action.DELETE
        return Planned(
            TargetKind.TEMPLATE,
            change.prefix,
            change.action,
            change.before,
            None if deleting else change.after,
            (change.applied_for_before, None if deleting else change.applied_for_after),
        )

    def saved_problem(self, desired: Registry) -> str | None:
        return saved_template_problem(desired, self.change)

    def changed_since(self, verify_live: bool) -> Skip | None:
        self.current = self.client.read_template(self.change.prefix)
        stale = template_stale(self.change, self.current)
        if stale is None:
            return None
        if template_in_line(self.change, self.current):
            return _in_line(shapes.policy_of(self.current))
        return Skip(Result.STALE, stale, shapes.policy_of(self.current))

    def send(self) -> None:
        change, after, current = self.change, self.planned.after, self.current
        if change.action == Action.CREATE and after is not None:
            self.client.create_template(shapes.create_request(change.prefix, after, change.applied_for_after))
        elif change.action == Action.UPDATE and after is not None and current is not None:
            self.client.update_template(shapes.update_request(current, after, change.applied_for_after))
        else:
            self.client.delete_template(change.prefix)

    def not_as_written(self) -> str | None:
        written = self.client.read_template(self.change.prefix)
        return template_not_as_written(self.change, self.current, written)

    def failure(self, error: ReconcilerError) -> Result:
        return Result.FAILED


def template_stale(change: TemplateChange, current: dict[str, Any] | None) -> str | None:
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


def template_in_line(change: TemplateChange, current: dict[str, Any] | None) -> bool:
    """True when the template already holds what the change would leave: its policy (by meaning) and
    appliedFor, or, for a DELETE, no template at all. Only what we own is compared: the other fields are
    never ours to set (a create sets none, an update sends them back as they are)."""
    if change.action == Action.DELETE:
        return current is None
    return (
        current is not None
        and live_fingerprint(shapes.policy_of(current)) == live_fingerprint(change.after)
        and shapes.applied_for_of(current) == applied_for_order(list(change.applied_for_after))
    )


def template_not_as_written(
    change: TemplateChange, before: dict[str, Any] | None, written: dict[str, Any] | None
) -> str | None:
    """What the read-back shows went wrong with a template write, or None (names, never values)."""
    if change.action == Action.DELETE:
        return (
            None if written is None else "after DeleteRepositoryCreationTemplate the template is still there"
        )
    name = _CALLS[change.action]
    if written is None:
        return f"after {name} there is no template with this prefix"
    problems = []
    # By meaning: ECR may hand a policy back reformatted.
    if live_fingerprint(shapes.policy_of(written)) != live_fingerprint(change.after):
        problems.append("repositoryPolicy is not what was written")
    if shapes.applied_for_of(written) != change.applied_for_after:
        problems.append("appliedFor is not what was written")
    if before is not None:
        problems += [f"{field} changed" for field in shapes.changed_fields(before, written)]
    return f"after {name}: " + "; ".join(problems) if problems else None
