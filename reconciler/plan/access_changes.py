"""Who gains and who loses pull: the access delta of a registry's plan, by meaning.

For each change that will be written (create, update, delete; an error writes nothing), the grants of the
reconciler's statements before and after: after is what policies/ renders for the target, before follows
from it and the change's `Difference` (before = after - added + removed). A Sid rename or a statement split
that grants the same accounts and paths changes nobody's access.

With the organization (`organization:` in the registry file) every grant is resolved against it
(`policy/coverage.py`): a full OU path and a `*` path naming the same OU are one grant, an account inside a
granted OU keeps pull when its id is dropped. A loss is an account, or an OU as a whole, that could pull
before and cannot after; an OU's loss names the accounts in it. Without it, what the strings cannot prove
either way (an account dropped while OU paths remain, a path respelled) is a "may lose", never dropped.

The registry's own account is apart: its principals keep pull through their IAM policies alone, so the
policy no longer naming it is a note, not a lockout. The provider config and the creation templates are not
repositories: what repositories created from now on get, reported apart from the repository counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.plan.model import (
    AccessChange,
    AccessDelta,
    Action,
    Difference,
    Reach,
    RegistryPlan,
)
from reconciler.policy.coverage import Grants, OrganizationIndex, contains, org_id, reached_beyond
from reconciler.policy.organization import Organization

ACCOUNT = "account"
ORGANIZATION_PATH = "organization path"
OU = "OU"
ROOT = "root"
_WRITES = (Action.CREATE, Action.UPDATE, Action.DELETE)
_ACCOUNTS_NAMED = 5  # accounts an OU's line names before "and N more"

__all__ = ["ACCOUNT", "ORGANIZATION_PATH", "OU", "AccessChange", "access_changes", "access_delta"]


@dataclass(frozen=True)
class AfterGrants:
    """What policies/ renders, per target: the grants each write leaves (None: not known, a saved plan of
    an older version: then only the added values are)."""

    repository: Callable[[str], Grants]
    provider: Callable[[], Grants]
    template: Callable[[str], Grants]


def _pair(difference: Difference, after: Grants | None) -> tuple[Grants, Grants]:
    added = Grants(frozenset(difference.accounts_added), frozenset(difference.paths_added))
    removed = Grants(frozenset(difference.accounts_removed), frozenset(difference.paths_removed))
    after = after if after is not None else added
    before = Grants(
        (after.accounts - added.accounts) | removed.accounts, (after.paths - added.paths) | removed.paths
    )
    return before, after


# A principal's line: (kind, principal) -> which way ("loses" | "may_lose" | "gains") and, for an OU, its
# accounts that move that way.
_Key = tuple[str, str]


@dataclass(frozen=True)
class _Moves:
    lines: dict[_Key, tuple[str, frozenset[str]]]
    own_dropped: bool


class _Resolver:
    def __init__(self, own_account: str, organization: Organization | None) -> None:
        self.own = own_account
        self.index = OrganizationIndex(organization) if organization is not None else None
        self._cache: dict[tuple[Grants, Grants], _Moves] = {}

    def moves(self, before: Grants, after: Grants) -> _Moves:
        found = self._cache.get((before, after))
        if found is None:
            found = self._cache[(before, after)] = (
                self._by_strings(before, after) if self.index is None else self._resolved(before, after)
            )
        return found

    def _by_strings(self, before: Grants, after: Grants) -> _Moves:
        lines: dict[_Key, tuple[str, frozenset[str]]] = {}
        none: frozenset[str] = frozenset()
        for account in sorted(before.accounts - after.accounts - {self.own}):
            lines[(ACCOUNT, account)] = ("may_lose" if after.paths else "loses", none)
        for path in sorted(before.paths - after.paths):
            if any(contains(wider, path) for wider in after.paths):
                continue
            same_org = any(org_id(other) == org_id(path) for other in after.paths)
            lines[(ORGANIZATION_PATH, path)] = ("may_lose" if same_org else "loses", none)
        for account in sorted(after.accounts - before.accounts - {self.own}):
            lines[(ACCOUNT, account)] = ("gains", none)
        for path in sorted(after.paths - before.paths):
            if not any(contains(wider, path) for wider in before.paths):
                lines[(ORGANIZATION_PATH, path)] = ("gains", none)
        dropped = self.own in before.accounts and self.own not in after.accounts
        return _Moves(lines, dropped)

    def _resolved(self, before: Grants, after: Grants) -> _Moves:
        index = self.index
        assert index is not None
        lines: dict[_Key, tuple[str, frozenset[str]]] = {}
        for way, wide, narrow in (("loses", before, after), ("gains", after, before)):
            accounts, nodes = reached_beyond(index, wide, narrow)
            moved = index.reach(wide).accounts - index.reach(narrow).accounts - {self.own}
            for node in nodes:
                under = frozenset(a for a in index.accounts_under(node) if a in moved)
                lines[(ROOT if node.startswith("r-") else OU, node)] = (way, under)
            for account in accounts:
                if account != self.own:
                    lines[(ACCOUNT, account)] = (way, frozenset())
            far = index.reach(narrow).foreign_paths
            for path in sorted(index.reach(wide).foreign_paths - far):
                if not any(contains(other, path) for other in far):
                    lines[(ORGANIZATION_PATH, path)] = (way, frozenset())
        dropped = self.own in index.reach(before).accounts and self.own not in index.reach(after).accounts
        return _Moves(lines, dropped)

    def detail(self, kind: str, principal: str, moved: dict[str, set[str]]) -> str:
        """The account's or OU's name; for an OU, its accounts whose pull moves (an OU reached as a whole
        also covers the accounts moved into it later, so it is a line even when none of today's moves)."""
        if self.index is None or kind == ORGANIZATION_PATH:
            return ""
        name = self.index.name(principal)
        if kind == ACCOUNT:
            return name
        way = next((w for w in ("loses", "may_lose", "gains") if w in moved), "loses")
        accounts = sorted(moved.get(way, ()))
        if not accounts:
            verb = "loses" if way != "gains" else "gains"
            listed = f"no account in it {verb} pull today"
        else:
            shown = ", ".join(accounts[:_ACCOUNTS_NAMED])
            more = len(accounts) - _ACCOUNTS_NAMED
            listed = f"account{'s' if len(accounts) > 1 else ''} {shown}"
            listed += f" and {more} more" if more > 0 else ""
        return f"{name}: {listed}" if name else listed


def compute_delta(
    registry: RegistryPlan, after: AfterGrants | None = None, organization: Organization | None = None
) -> AccessDelta:
    """The registry's access delta. `after`: what policies/ renders per target (planning); None derives
    it from the differences alone (plan files of version 1 and 2). `organization`: resolve against it."""
    resolver = _Resolver(registry.account_id, organization)
    reaches: dict[_Key, dict[str, Reach]] = {}
    moved: dict[_Key, dict[str, set[str]]] = {}
    own = Reach()

    def record(moves: _Moves, where: Reach) -> None:
        nonlocal own
        for key, (way, accounts) in moves.lines.items():
            ways = reaches.setdefault(key, {})
            ways[way] = ways.get(way, Reach()).merged(where)
            moved.setdefault(key, {}).setdefault(way, set()).update(accounts)
        if moves.own_dropped:
            own = own.merged(where)

    pairs: Counter[tuple[Grants, Grants]] = Counter()
    for change in registry.changes:
        if change.action in _WRITES:
            target = after.repository(change.repository) if after else None
            pairs[_pair(change.difference, target)] += 1
    for (before, now), count in pairs.items():
        record(resolver.moves(before, now), Reach(repositories=count))
    provider = registry.provider
    if provider is not None and provider.action in (Action.CREATE, Action.UPDATE):
        moves = resolver.moves(*_pair(provider.difference, after.provider() if after else None))
        record(moves, Reach(provider=True))
    for template in registry.templates:
        if template.action in (Action.CREATE, Action.UPDATE):
            granted = after.template(template.prefix) if after else None
            record(resolver.moves(*_pair(template.difference, granted)), Reach(templates=(template.prefix,)))
    changes = [
        AccessChange(
            principal,
            kind,
            loses=ways.get("loses", Reach()),
            may_lose=ways.get("may_lose", Reach()),
            gains=ways.get("gains", Reach()),
            detail=resolver.detail(kind, principal, moved[(kind, principal)]),
        )
        for (kind, principal), ways in reaches.items()
    ]
    changes.sort(
        key=lambda c: (
            not c.loses,
            not c.may_lose,
            -c.loses.repositories,
            -c.may_lose.repositories,
            -c.gains.repositories,
            c.kind,
            c.principal,
        )
    )
    return AccessDelta(organization.id if organization else None, tuple(changes), own)


def access_delta(registry: RegistryPlan) -> AccessDelta:
    """As planned; for a plan file of version 1 or 2, derived from its differences."""
    return registry.access if registry.access is not None else compute_delta(registry)


def access_changes(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    """Every principal whose pull access changes: losses first, then what may be lost, then gains."""
    return access_delta(registry).changes


def losses(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    return tuple(c for c in access_changes(registry) if c.loses)


def possible_losses(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    """What cannot be proven either way without the organization."""
    return tuple(c for c in access_changes(registry) if c.may_lose)


def gains(registry: RegistryPlan) -> tuple[AccessChange, ...]:
    return tuple(c for c in access_changes(registry) if c.gains)


def own_account_text(registry: RegistryPlan) -> str | None:
    """The note for the registry's own account, when the policy stops naming it somewhere."""
    where = access_delta(registry).own_account
    if not where:
        return None
    return (
        f"the policy no longer names the registry's own account {registry.account_id} on {where.words()}: "
        "its principals keep pull only through their IAM policies"
    )
