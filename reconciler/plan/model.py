"""The plan model: what would change, per registry and target (the contract between plan and apply).

Its file form (the JSON `plan --out` writes and `apply --plan` reads) is plan/planfile.py's job. The access
delta (`AccessDelta`) is computed by plan/access_changes.py and carried in the file from version 3 on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Action(StrEnum):
    CREATE = "create"  # no policy yet; one will be set
    UPDATE = "update"  # the policy changes in meaning
    DELETE = "delete"  # nothing is left: the policy is deleted
    NOOP = "no-op"
    ERROR = "error"  # could not be read or decided; nothing will be written


@dataclass(frozen=True)
class Difference:
    """What changes in the statements we own, in words a reviewer checks. Foreign statements never appear."""

    accounts_added: tuple[str, ...] = ()
    accounts_removed: tuple[str, ...] = ()
    paths_added: tuple[str, ...] = ()
    paths_removed: tuple[str, ...] = ()
    actions_added: tuple[str, ...] = ()
    actions_removed: tuple[str, ...] = ()
    other: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        parts: list[str] = []
        for label, values in (
            ("add account", self.accounts_added),
            ("remove account", self.accounts_removed),
            ("add OU path", self.paths_added),
            ("remove OU path", self.paths_removed),
            ("add action", self.actions_added),
            ("remove action", self.actions_removed),
        ):
            parts.extend(f"{label} {value}" for value in values)
        parts.extend(self.other)
        return parts

    def summary(self) -> str:
        return "; ".join(self.lines()) or "no change in meaning"


@dataclass(frozen=True)
class RepositoryChange:
    repository: str
    action: Action
    before: str | None  # the live policy text as read (None: no policy)
    after: str | None  # the text to write (None: delete, or nothing to do)
    live_fingerprint: str  # meaning of `before`; apply re-reads and compares to detect staleness
    difference: Difference = field(default_factory=Difference)
    error: str | None = None
    # Foreign statements kept although they grant more than pull ("push to arn:...:role/ci"): for reviewers.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderChange:
    """The nullplatform provider config's `attributes.setup.policy` (never any other attribute)."""

    nrn: str
    provider_id: str | None
    action: Action
    before: str | None
    after: str | None
    difference: Difference = field(default_factory=Difference)
    error: str | None = None
    notes: tuple[str, ...] = ()  # as for RepositoryChange


@dataclass(frozen=True)
class TemplateChange:
    """An ECR repository creation template's `repositoryPolicy` and `appliedFor` (never any other field:
    apply reads the template again right before writing and sends every other field back as it is).

    `action` create: there is no template with this prefix (CreateRepositoryCreationTemplate); update: its
    policy or `appliedFor` changes (UpdateRepositoryCreationTemplate); delete: only `restore` of a template an
    apply created (DeleteRepositoryCreationTemplate).
    """

    prefix: str
    action: Action
    before: str | None  # repositoryPolicy as read (None: none, or no template)
    after: str | None  # repositoryPolicy to write
    applied_for_before: tuple[str, ...] | None  # None: there is no template
    applied_for_after: tuple[str, ...]
    live_fingerprint: str  # meaning of `before`
    difference: Difference = field(default_factory=Difference)
    error: str | None = None
    notes: tuple[str, ...] = ()  # as for RepositoryChange

    def applied_for_lines(self) -> list[str]:
        """What changes in `appliedFor`, in words (empty when nothing does)."""
        if self.action in (Action.NOOP, Action.ERROR, Action.DELETE):
            return []
        after = ", ".join(self.applied_for_after)
        if self.applied_for_before is None:
            return [f"applied for {after}"]
        added = [v for v in self.applied_for_after if v not in self.applied_for_before]
        removed = [v for v in self.applied_for_before if v not in self.applied_for_after]
        return [f"applied for: add {v}" for v in added] + [f"applied for: remove {v}" for v in removed]


ROOT_TEMPLATE = "ROOT"
MAY_LOSE_WHY = "can't tell without `organization:`"


def _count(number: int) -> str:
    return f"{number} {'repository' if number == 1 else 'repositories'}"


@dataclass(frozen=True)
class Reach:
    """Where one principal's pull changes one way: on how many repositories, on the repositories created
    from now on through the provider config, and through which creation templates (their prefixes)."""

    repositories: int = 0
    provider: bool = False
    templates: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.repositories or self.provider or self.templates)

    def words(self) -> str:
        """'58 repositories and on new repositories (provider config) and on repositories ECR creates
        under payments/'."""
        parts = [_count(self.repositories)] if self.repositories else []
        if self.provider:
            parts.append("new repositories (provider config)")
        named = [p for p in self.templates if p != ROOT_TEMPLATE]
        if named:
            parts.append("repositories ECR creates under " + ", ".join(f"{p.rstrip('/')}/" for p in named))
        if ROOT_TEMPLATE in self.templates:
            parts.append("repositories ECR creates through the ROOT template")
        return " and on ".join(parts)

    def merged(self, other: Reach) -> Reach:
        templates = self.templates + tuple(t for t in other.templates if t not in self.templates)
        return Reach(self.repositories + other.repositories, self.provider or other.provider, templates)


@dataclass(frozen=True)
class AccessChange:
    """One principal whose pull changes: `kind` "account", "OU" (or "root"), or "organization path" (a
    value kept as written: no organization to resolve it against, or another organization's)."""

    principal: str
    kind: str
    loses: Reach = field(default_factory=Reach)
    may_lose: Reach = field(default_factory=Reach)  # cannot be proven either way without the organization
    gains: Reach = field(default_factory=Reach)
    detail: str = ""  # the account's or OU's name in the organization, the OU's accounts that lose pull

    def label(self, code: bool = False) -> str:
        """'account 999900001111 (clusters-prod)'; `code`: the value in backticks (paths hold `*`)."""
        value = f"`{self.principal}`" if code else self.principal
        return f"{self.kind} {value}" + (f" ({self.detail})" if self.detail else "")

    @property
    def has_loss(self) -> bool:
        return bool(self.loses)

    def loss_text(self, code: bool = False) -> str:
        """'account 999900001111 loses pull on 58 repositories'."""
        return f"{self.label(code)} loses pull on {self.loses.words()}"

    def may_lose_text(self, code: bool = False) -> str:
        why = MAY_LOSE_WHY if code else MAY_LOSE_WHY.replace("`", "")
        return f"{self.label(code)} may lose pull ({why}) on {self.may_lose.words()}"

    def gain_text(self, code: bool = False) -> str:
        return f"{self.label(code)} gains pull on {self.gains.words()}"


@dataclass(frozen=True)
class AccessDelta:
    """A registry's access delta as planned. `organization`: the id of the organization the grants were
    resolved against (None: the registry has no `organization:`, only what the strings prove is known).
    `own_account`: where the policy stops naming the registry's own account (its principals keep pull
    through their IAM policies alone: a note, not a lockout)."""

    organization: str | None = None
    changes: tuple[AccessChange, ...] = ()
    own_account: Reach = field(default_factory=Reach)


@dataclass(frozen=True)
class RegistryPlan:
    registry: str
    account_id: str
    region: str
    desired_fingerprint: str
    provider: ProviderChange | None
    changes: tuple[RepositoryChange, ...]  # create/update/delete/error, sorted by repository
    unchanged: tuple[str, ...] = ()  # repositories already in line (names only: keeps plans small)
    error: str | None = None  # the registry could not be listed at all
    # Repositories listed but deleted before their policy was read: they need no policy (names only).
    gone: tuple[str, ...] = ()
    # Every creation template policies/ declares (no-ops too: there are few), in its order.
    templates: tuple[TemplateChange, ...] = ()
    # The access delta as planned (None: a plan file of version 1 or 2; it is derived from the changes).
    # Derived data: two plans of the same changes are equal whatever it says.
    access: AccessDelta | None = field(default=None, compare=False)
    # Where the live policies came from when the plan did not read them all now (`plan --since`); empty
    # for a plain full read.
    source: str = ""

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def template_count(self, action: Action) -> int:
        return sum(1 for t in self.templates if t.action == action)


@dataclass(frozen=True)
class Plan:
    created_at: str
    desired_fingerprint: str
    registries: tuple[RegistryPlan, ...]
    # What the plan covers (version 4): the `--repository` globs it was made with (empty: every managed
    # repository), and whether it left out the provider config and the creation templates. `apply --plan`
    # and `backfill --plan` never reach beyond it: a repository outside the globs is not "new since plan".
    repositories: tuple[str, ...] = ()
    repositories_only: bool = False

    def count(self, action: Action) -> int:
        return sum(r.count(action) for r in self.registries)

    @property
    def repository_changes(self) -> int:
        return sum(self.count(a) for a in (Action.CREATE, Action.UPDATE, Action.DELETE))

    @property
    def provider_changes(self) -> int:
        return sum(
            1 for r in self.registries if r.provider and r.provider.action in (Action.CREATE, Action.UPDATE)
        )

    @property
    def template_changes(self) -> int:
        return sum(r.template_count(a) for r in self.registries for a in (Action.CREATE, Action.UPDATE))

    @property
    def has_changes(self) -> bool:
        return self.repository_changes + self.provider_changes + self.template_changes > 0

    @property
    def has_errors(self) -> bool:
        return any(
            r.error
            or (r.provider and r.provider.error)
            or r.count(Action.ERROR)
            or r.template_count(Action.ERROR)
            for r in self.registries
        )

    def summary_line(self) -> str:
        provider_actions = {r.provider.action for r in self.registries if r.provider}
        if not provider_actions:
            provider = "not managed"
        elif Action.ERROR in provider_actions:
            provider = "error"
        elif provider_actions & {Action.CREATE, Action.UPDATE}:
            provider = "update"
        else:
            provider = "no changes"
        line = (
            f"Plan: {self.count(Action.CREATE)} to create, {self.count(Action.UPDATE)} to update, "
            f"{self.count(Action.DELETE)} to delete; provider config: {provider}"
        )
        if any(r.templates for r in self.registries):
            line += "; creation templates: " + self._template_summary()
        errors = self.count(Action.ERROR) + sum(1 for r in self.registries if r.error)
        gone = sum(len(r.gone) for r in self.registries)
        return line + (f"; {gone} gone" if gone else "") + (f"; {errors} errors" if errors else "")

    def _template_summary(self) -> str:
        counts = {a: sum(r.template_count(a) for r in self.registries) for a in Action}
        parts = [
            f"{counts[a]} {label}"
            for a, label in (
                (Action.CREATE, "to create"),
                (Action.UPDATE, "to update"),
                (Action.ERROR, "error"),
            )
            if counts[a]
        ]
        return ", ".join(parts) or "no changes"

    @staticmethod
    def merge(plans: list[Plan]) -> Plan:
        """Join the per-registry plans of a matrix run into one (for the single PR comment)."""
        registries = tuple(sorted((r for p in plans for r in p.registries), key=lambda r: r.registry))
        fingerprints = sorted({p.desired_fingerprint for p in plans})
        created = max((p.created_at for p in plans), default="")
        merged = Plan(created_at=created, desired_fingerprint=",".join(fingerprints), registries=registries)
        scopes = {(p.repositories, p.repositories_only) for p in plans}
        if len(scopes) == 1:
            (repositories, repositories_only), *_ = scopes
            return replace(merged, repositories=repositories, repositories_only=repositories_only)
        return merged
