"""Who a set of pull grants reaches: accounts by id, and OU paths resolved against the organization. Pure.

A grant is what the reconciler's statements say: account ids (`aws:PrincipalAccount`) and OU paths
(`aws:PrincipalOrgPaths` with `ForAnyValue:StringLike`). Two spellings of one OU (`o-x/*/ou-b/*` and the
full `o-x/r-y/ou-a/ou-b/*`) are different strings with one meaning; comparing strings would call that a
change in access. Here each grant is resolved the way IAM evaluates it (IAM User Guide, "IAM JSON policy
elements: Condition operators", StringLike: `*` matches any run of characters, `/` included; "AWS global
condition context keys", aws:PrincipalOrgPaths: a principal's value is `o-x/r-y/ou-a/ou-b/`, its account's
chain of parents):

- an account is reached when its id is granted, or when a granted path matches its organization path;
- an OU (or a root) is reached as a whole when a granted path matches every path below it, so accounts
  moved into it later are reached too.

Without the organization only what the strings themselves prove is known: `contains` says whether every
value one path matches is matched by another, whatever the organization looks like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from reconciler.policy.organization import Organization

# A character no organization path holds: a path matched with it appended matches with anything appended,
# since only a `*` can have consumed it.
_BEYOND = "\x00"


@dataclass(frozen=True)
class Grants:
    """The accounts and OU paths a policy's (owned, Allow) statements grant pull to."""

    accounts: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.paths)


@cache
def _pattern(path: str) -> re.Pattern[str]:
    """StringLike: `*` any run of characters, `?` any one; everything else literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in path)
    return re.compile("".join(parts), re.DOTALL)


def matches(path: str, value: str) -> bool:
    """Does the granted `path` match the principal's organization path `value`?"""
    return _pattern(path).fullmatch(value) is not None


def contains(outer: str, inner: str) -> bool:
    """True when every value `inner` matches is matched by `outer`, in any organization.

    `outer` read against `inner`'s own text: a `*` of `inner` can then be matched only by a `*` of `outer`
    (paths hold no literal `*`), which matches whatever that `*` stands for."""
    if "?" in outer:
        return outer == inner
    return matches(outer, inner)


def org_id(path: str) -> str:
    return path.split("/", 1)[0]


@dataclass(frozen=True)
class Reached:
    """Who a Grants reaches in an organization."""

    accounts: frozenset[str]  # member accounts, and accounts outside the organization granted by id
    nodes: frozenset[str]  # roots and OUs reached as a whole (their whole subtree)
    # Paths of another organization: nothing here says whom they reach, so they are kept as written.
    foreign_paths: frozenset[str]


class OrganizationIndex:
    """An organization's accounts and nodes with their organization paths, and reach cached per Grants."""

    def __init__(self, organization: Organization) -> None:
        self.organization = organization
        self.account_paths = {
            account: path
            for account in organization.accounts
            if (path := organization.principal_org_path(account)) is not None
        }
        self.node_paths = {
            node: "/".join((organization.id, *organization.chain(node))) + "/"
            for node in (*organization.roots, *organization.units)
        }
        self._reached: dict[Grants, Reached] = {}

    def reach(self, grants: Grants) -> Reached:
        found = self._reached.get(grants)
        if found is None:
            found = self._reached[grants] = self._reach(grants)
        return found

    def _reach(self, grants: Grants) -> Reached:
        ours = [p for p in grants.paths if org_id(p) == self.organization.id]
        accounts = set(grants.accounts)
        accounts.update(a for a, value in self.account_paths.items() if any(matches(p, value) for p in ours))
        nodes = {n for n, value in self.node_paths.items() if any(matches(p, value + _BEYOND) for p in ours)}
        foreign = frozenset(p for p in grants.paths if org_id(p) != self.organization.id)
        return Reached(frozenset(accounts), frozenset(nodes), foreign)

    def parent(self, node_or_account: str) -> str | None:
        account = self.organization.accounts.get(node_or_account)
        if account is not None:
            return account.parent_id
        unit = self.organization.units.get(node_or_account)
        return unit.parent_id if unit else None

    def ancestors(self, node_or_account: str) -> list[str]:
        """The roots and OUs above, nearest first."""
        found: list[str] = []
        current = self.parent(node_or_account)
        while current is not None and current not in found:
            found.append(current)
            current = self.parent(current)
        return found

    def name(self, node_or_account: str) -> str:
        account = self.organization.accounts.get(node_or_account)
        if account is not None:
            return account.name
        unit = self.organization.units.get(node_or_account)
        return unit.name if unit else ""

    def accounts_under(self, node: str) -> list[str]:
        return sorted(a for a in self.organization.accounts if node in self.ancestors(a))


def reached_beyond(index: OrganizationIndex, wide: Grants, narrow: Grants) -> tuple[list[str], list[str]]:
    """(accounts, nodes) `wide` reaches and `narrow` does not; nodes outermost only, accounts outside
    them. Paths of another organization count as reached only by the same string."""
    a, b = index.reach(wide), index.reach(narrow)
    nodes = a.nodes - b.nodes
    outermost = sorted(n for n in nodes if not any(up in nodes for up in index.ancestors(n)))
    accounts = sorted(x for x in a.accounts - b.accounts if not any(up in nodes for up in index.ancestors(x)))
    return accounts, outermost
