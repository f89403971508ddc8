"""Who gains and who loses pull: the access delta of a registry's plan, per principal our statements name.

Derived from each change's `Difference` (the accounts and OU paths granted by the owned statements before
and after, see `build.difference`), so a Sid rename or a statement split that grants the same accounts and
paths changes nobody's access and is not counted. Only changes that will be written count (create, update,
delete); an error writes nothing. The provider config is not a repository: it is what repositories created
from now on get, so it is reported apart (`new_repositories`), never added to the repository counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.plan.model import Action, Difference, RegistryPlan

ACCOUNT = "account"
ORGANIZATION_PATH = "organization path"
_WRITES = (Action.CREATE, Action.UPDATE, Action.DELETE)


@dataclass(frozen=True)
class AccessChange:
    principal: str  # a 12-digit account id or an aws:PrincipalOrgPaths value
    kind: str  # ACCOUNT | ORGANIZATION_PATH
    gains: int = 0  # repositories on which it gains pull
    loses: int = 0  # repositories on which it loses pull
    new_repositories: str | None = None  # "gains" | "loses": through the provider config; None: unchanged

    def label(self, code: bool = False) -> str:
        """'account 999900001111'; `code`: the value in backticks (markdown: OU paths hold `*`)."""
        return f"{self.kind} `{self.principal}`" if code else f"{self.kind} {self.principal}"

    @property
    def has_loss(self) -> bool:
        return self.loses > 0 or self.new_repositories == "loses"

    def loss_text(self, code: bool = False) -> str:
        """'account 999900001111 loses pull on 58 repositories'."""
        return f"{self.label(code)} loses pull on {_where(self.loses, self.new_repositories == 'loses')}"

    def gain_text(self, code: bool = False) -> str:
        return f"{self.label(code)} gains pull on {_where(self.gains, self.new_repositories == 'gains')}"

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "kind": self.kind,
            "gains": self.gains,
            "loses": self.loses,
            "new_repositories": self.new_repositories,
        }


def _where(count: int, new: bool) -> str:
    parts = []
    if count:
        parts.append(f"{count} {'repository' if count == 1 else 'repositories'}")
    if new:
        parts.append("new repositories (provider config)")
    return " and on ".join(parts)


def _principals(difference: Difference) -> Iterable[tuple[str, str, int]]:
    """(kind, principal, +1 gained | -1 lost) for one change."""
    yield from ((ACCOUNT, a, 1) for a in difference.accounts_added)
    yield from ((ACCOUNT, a, -1) for a in difference.accounts_removed)
    yield from ((ORGANIZATION_PATH, p, 1) for p in difference.paths_added)
    yield from ((ORGANIZATION_PATH, p, -1) for p in difference.paths_removed)


def access_changes(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    """Every principal whose pull access changes, losses first (most repositories first), then gains."""
    gains: dict[tuple[str, str], int] = {}
    losses: dict[tuple[str, str], int] = {}
    for change in registry.changes:
        if change.action not in _WRITES:
            continue
        for kind, principal, sign in _principals(change.difference):
            counter = gains if sign > 0 else losses
            counter[(kind, principal)] = counter.get((kind, principal), 0) + 1
    new: dict[tuple[str, str], str] = {}
    provider = registry.provider
    if provider is not None and provider.action in (Action.CREATE, Action.UPDATE):
        for kind, principal, sign in _principals(provider.difference):
            new[(kind, principal)] = "gains" if sign > 0 else "loses"
    keys = set(gains) | set(losses) | set(new)
    result = [
        AccessChange(
            principal,
            kind,
            gains.get((kind, principal), 0),
            losses.get((kind, principal), 0),
            new.get((kind, principal)),
        )
        for kind, principal in keys
    ]
    return tuple(sorted(result, key=lambda c: (not c.has_loss, -c.loses, -c.gains, c.kind, c.principal)))


def losses(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    return tuple(c for c in access_changes(registry) if c.has_loss)


def gains(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    return tuple(c for c in access_changes(registry) if c.gains or c.new_repositories == "gains")
