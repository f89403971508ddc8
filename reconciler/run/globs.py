"""`--repository` globs that match nothing are an error naming them: a typo would otherwise read as "no
changes", a success."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase

from reconciler.desired.model import Registry
from reconciler.desired.overlap import common_match
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


def refuse_globs_outside_plan(globs: Sequence[str], plan_globs: Sequence[str], path: str) -> None:
    """A `--repository` glob that shares no possible name with the saved plan's own globs (empty: the plan
    covers every managed repository) can select nothing the plan covers: refused before anything is read,
    rather than reported later as matching no repository, after the rest was written."""
    if not plan_globs:
        return
    outside = [g for g in dict.fromkeys(globs) if all(common_match(g, p) is None for p in plan_globs)]
    if outside:
        listed = ", ".join(repr(g) for g in outside)
        covered = ", ".join(repr(g) for g in plan_globs)
        raise ReconcilerError(
            f"--repository {listed} can match no repository the plan {path} covers (it was made with "
            f"--repository {covered}); leave it out, or plan again with it"
        )


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
