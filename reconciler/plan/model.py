"""The plan model and its versioned JSON form (the file `plan --out` writes and `apply --plan` reads).

Format (version 3), documented in docs/PLAN_FORMAT.md:
  {"format": "ecr-policy-reconciler/plan", "version": 3, "created_at": ISO-8601,
   "desired_fingerprint": "sha256:...", "registries": [RegistryPlan... + "access"]}
Version 3 carries each registry's access delta as planned (resolved against the organization when the
registry file has `organization:`): `comment` and `drift-issue` have no AWS access and show it as it is.
Versions 1 and 2 are still read; their delta is derived from the changes' differences, by string.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, TextIO

from reconciler.errors import ReconcilerError

PLAN_FORMAT = "ecr-policy-reconciler/plan"
PLAN_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


class Action(StrEnum):
    CREATE = "create"  # no policy yet; one will be set
    UPDATE = "update"  # the policy changes in meaning
    DELETE = "delete"  # nothing is left: the policy is deleted
    NOOP = "no-op"
    ERROR = "error"  # could not be read or decided; nothing will be written


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> Difference:
        return Difference(**{k: tuple(v) for k, v in data.items()})


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> RepositoryChange:
        return RepositoryChange(
            repository=data["repository"],
            action=Action(data["action"]),
            before=data.get("before"),
            after=data.get("after"),
            live_fingerprint=data["live_fingerprint"],
            difference=Difference.from_json(data.get("difference", {})),
            error=data.get("error"),
            notes=tuple(data.get("notes", ())),
        )


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> ProviderChange:
        return ProviderChange(
            nrn=data["nrn"],
            provider_id=data.get("provider_id"),
            action=Action(data["action"]),
            before=data.get("before"),
            after=data.get("after"),
            difference=Difference.from_json(data.get("difference", {})),
            error=data.get("error"),
            notes=tuple(data.get("notes", ())),
        )


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> TemplateChange:
        before_for = data.get("applied_for_before")
        return TemplateChange(
            prefix=data["prefix"],
            action=Action(data["action"]),
            before=data.get("before"),
            after=data.get("after"),
            applied_for_before=None if before_for is None else tuple(before_for),
            applied_for_after=tuple(data.get("applied_for_after", ())),
            live_fingerprint=data["live_fingerprint"],
            difference=Difference.from_json(data.get("difference", {})),
            error=data.get("error"),
            notes=tuple(data.get("notes", ())),
        )


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

    @staticmethod
    def from_json(data: dict[str, Any] | None) -> Reach:
        data = data or {}
        return Reach(
            int(data.get("repositories", 0)), bool(data.get("provider")), tuple(data.get("templates", ()))
        )


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> AccessChange:
        return AccessChange(
            principal=data["principal"],
            kind=data["kind"],
            loses=Reach.from_json(data.get("loses")),
            may_lose=Reach.from_json(data.get("may_lose")),
            gains=Reach.from_json(data.get("gains")),
            detail=data.get("detail", ""),
        )


@dataclass(frozen=True)
class AccessDelta:
    """A registry's access delta as planned. `organization`: the id of the organization the grants were
    resolved against (None: the registry has no `organization:`, only what the strings prove is known).
    `own_account`: where the policy stops naming the registry's own account (its principals keep pull
    through their IAM policies alone: a note, not a lockout)."""

    organization: str | None = None
    changes: tuple[AccessChange, ...] = ()
    own_account: Reach = field(default_factory=Reach)

    @staticmethod
    def from_json(data: dict[str, Any]) -> AccessDelta:
        return AccessDelta(
            organization=data.get("organization"),
            changes=tuple(AccessChange.from_json(c) for c in data.get("changes", [])),
            own_account=Reach.from_json(data.get("own_account")),
        )


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

    @staticmethod
    def from_json(data: dict[str, Any]) -> RegistryPlan:
        provider = data.get("provider")
        return RegistryPlan(
            registry=data["registry"],
            account_id=data["account_id"],
            region=data["region"],
            desired_fingerprint=data["desired_fingerprint"],
            provider=ProviderChange.from_json(provider) if provider else None,
            changes=tuple(RepositoryChange.from_json(c) for c in data.get("changes", [])),
            unchanged=tuple(data.get("unchanged", [])),
            error=data.get("error"),
            gone=tuple(data.get("gone", [])),
            templates=tuple(TemplateChange.from_json(t) for t in data.get("templates", [])),
            access=AccessDelta.from_json(data["access"]) if data.get("access") else None,
            source=str(data.get("source") or ""),
        )


@dataclass(frozen=True)
class Plan:
    created_at: str
    desired_fingerprint: str
    registries: tuple[RegistryPlan, ...]

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

    def to_json(self) -> str:
        out = io.StringIO()
        self.write_json(out)
        return out.getvalue()

    def write_json(self, out: TextIO) -> None:
        """The versioned JSON form, written piece by piece (one line per repository change): at 100,000
        repositories the plan file is hundreds of MB, and building it as one string would double the
        memory the plan itself takes."""
        # Imported here: access_changes builds on this module's types.
        from reconciler.plan.access_changes import access_delta

        head = {"format": PLAN_FORMAT, "version": PLAN_VERSION, **asdict(replace(self, registries=()))}
        out.write(_dumps(head)[:-2] + "\n")  # up to the registries list's "[", without its "]}"
        for index, registry in enumerate(self.registries):
            rest = asdict(replace(registry, changes=()))
            del rest["changes"]
            rest["access"] = asdict(access_delta(registry))
            out.write(("," if index else "") + _dumps(rest)[:-1] + ', "changes": [\n')
            for number, change in enumerate(registry.changes):
                out.write(("," if number else "") + _dumps(asdict(change)) + "\n")
            out.write("]}\n")
        out.write("]}\n")

    @staticmethod
    def from_json(text: str, source: str = "plan") -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReconcilerError(f"{source}: not a plan file (invalid JSON: {exc})") from exc
        _check_head(data, source)
        try:
            return Plan(
                created_at=data["created_at"],
                desired_fingerprint=data["desired_fingerprint"],
                registries=tuple(RegistryPlan.from_json(r) for r in data["registries"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReconcilerError(f"{source}: malformed plan file ({exc!r})") from exc

    @staticmethod
    def read(path: str) -> Plan:
        """A plan file. Laid out as `write_json` writes it (a line per repository change) it is parsed a
        line at a time: at 100,000 repositories the file is over 100 MB, and its text and its whole parsed
        tree next to the plan would triple the memory. Any other layout of the same JSON (re-indented by
        hand, say) is parsed whole, with the same checks and messages."""
        try:
            with open(path, encoding="utf-8") as lines:
                plan = _read_lines(lines, path)
            if plan is None:
                with open(path, encoding="utf-8") as whole:
                    plan = Plan.from_json(whole.read(), source=path)
        except OSError as exc:
            raise ReconcilerError(f"cannot read plan {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ReconcilerError(f"{path}: not a plan file (not UTF-8 text at byte {exc.start})") from exc
        return plan

    @staticmethod
    def merge(plans: list[Plan]) -> Plan:
        """Join the per-registry plans of a matrix run into one (for the single PR comment)."""
        registries = tuple(sorted((r for p in plans for r in p.registries), key=lambda r: r.registry))
        fingerprints = sorted({p.desired_fingerprint for p in plans})
        created = max((p.created_at for p in plans), default="")
        return Plan(created_at=created, desired_fingerprint=",".join(fingerprints), registries=registries)


def _check_head(data: Any, source: str) -> None:
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ReconcilerError(f"{source}: not a plan file (missing format {PLAN_FORMAT!r})")
    if data.get("version") not in READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        raise ReconcilerError(
            f"{source}: plan format version {data.get('version')} is not supported "
            f"(this reconciler reads versions {readable})"
        )


_OPEN_REGISTRIES = '"registries": ['
_OPEN_CHANGES = '"changes": ['
_CLOSE = "]}"


def _read_lines(lines: TextIO, source: str) -> Plan | None:
    """`write_json`'s layout, a line at a time; None when the file is laid out otherwise (then the caller
    parses it whole, which also gives the right message for a file that is broken)."""
    head_line = lines.readline().rstrip("\n")
    if not head_line.endswith(_OPEN_REGISTRIES):
        return None
    try:
        head = json.loads(head_line + _CLOSE)
        _check_head(head, source)
        registries: list[RegistryPlan] = []
        registry: dict[str, Any] | None = None
        changes: list[RepositoryChange] = []
        for raw in lines:
            text = raw.rstrip("\n")
            if text == _CLOSE and registry is not None:
                registries.append(replace(RegistryPlan.from_json(registry), changes=tuple(changes)))
                registry, changes = None, []
                continue
            if text == _CLOSE:
                break
            # Every item of a list but its first starts with the comma that separates it: no more, no less.
            comma = text.startswith(",")
            line = text[1:] if comma else text
            if registry is None:
                if comma != bool(registries) or not line.endswith(_OPEN_CHANGES):
                    return None
                registry = json.loads(line + _CLOSE)
            elif comma != bool(changes):
                return None
            else:
                changes.append(RepositoryChange.from_json(json.loads(line)))
        else:
            return None  # never closed: not this layout, or cut short
        if registry is not None or lines.read().strip():
            return None
        return Plan(
            created_at=head["created_at"],
            desired_fingerprint=head["desired_fingerprint"],
            registries=tuple(registries),
        )
    except json.JSONDecodeError:
        return None
    except UnicodeDecodeError:
        raise  # Plan.read says so in one line (its repr would quote a whole block of the file)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReconcilerError(f"{source}: malformed plan file ({exc!r})") from exc
