"""`--repository` globs that match nothing are an error naming them: a typo would otherwise read as "no
changes", a success."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase

from reconciler.desired.model import Registry
from reconciler.errors import ReconcilerError
from reconciler.plan.model import Plan


def refuse_unmatched_globs(globs: Sequence[str], names: Iterable[str], where: str) -> None:
    """A `--repository` glob that matches none of `names` (every repository of the run) is an error
    naming it. `where`: "repository in ..."."""
    unmatched = set(globs)
    for name in names:
        unmatched -= {g for g in unmatched if fnmatchcase(name, g)}
        if not unmatched:
            return
    refuse_globs_left(globs, unmatched, where)


def refuse_globs_left(globs: Sequence[str], unmatched: Iterable[str], where: str) -> None:
    left = set(unmatched)
    if left:
        listed = ", ".join(repr(g) for g in dict.fromkeys(globs) if g in left)
        raise ReconcilerError(f"--repository {listed} matches no {where}")


def plan_repositories(plan: Plan) -> Iterator[str]:
    """Every repository a plan read: changed, unchanged, or deleted while planning."""
    for registry in plan.registries:
        yield from (c.repository for c in registry.changes)
        yield from registry.unchanged
        yield from registry.gone


def in_registries(registries: Sequence[Registry]) -> str:
    names = ", ".join(r.name for r in registries)
    return f"in registry {names}" if len(registries) == 1 else f"in any of the registries {names}"


def managed_where(registries: Sequence[Registry]) -> str:
    return f"repository its policies manage {in_registries(registries)}"
