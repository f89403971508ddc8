"""What a drift check found, and whether re-applying may fix it without a person (self-heal).

Self-heal is for one case only: the desired state is sound (validated, every registry planned, every
principal check passed, nothing failed to read) and the only differences are repositories out of line.
Anything else needs a person: an error means the desired state or the run is in doubt, and a drifted
nullplatform provider config or creation template (what new repositories get) was changed in nullplatform
or ECR itself, by someone who may have meant it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from reconciler.plan.model import Action, Plan

_WRITES = (Action.CREATE, Action.UPDATE, Action.DELETE)


class Verdict(StrEnum):
    CLEAN = "clean"  # live state matches policies/ and nothing failed
    DRIFT = "drift"  # drifted or failed: a person has to look
    HEALABLE = "healable"  # only repositories out of line: re-applying brings them back


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    # Why self-heal may not run (empty when clean or healable), in words for the tracking issue.
    reasons: tuple[str, ...] = ()


def assess(plan: Plan, run_errors: Sequence[str] = ()) -> Assessment:
    """`run_errors`: what failed outside the plans (validation, a registry that produced no plan)."""
    reasons = list(run_errors)
    # An error action without its message still counts: writing next to it would be a guess.
    provider_failed = any(r.provider and r.provider.action == Action.ERROR for r in plan.registries)
    if plan.has_errors or provider_failed:
        reasons.append("some targets could not be planned (see the errors in the plan)")
    if plan.provider_changes:
        reasons.append(
            "the nullplatform provider config differs from policies/: it was changed in nullplatform, "
            "so a person decides"
        )
    if plan.template_changes:
        reasons.append(
            "a repository creation template differs from policies/: it was changed in ECR, "
            "so a person decides"
        )
    if reasons:
        return Assessment(Verdict.DRIFT, tuple(reasons))
    if plan.repository_changes:
        return Assessment(Verdict.HEALABLE)
    return Assessment(Verdict.CLEAN)


@dataclass(frozen=True)
class Healing:
    """What a self-heal apply did to the planned repository changes."""

    applied: tuple[str, ...]  # "registry/repository"
    not_applied: tuple[tuple[str, str], ...]  # ("registry/repository", result and reason)

    @property
    def complete(self) -> bool:
        return bool(self.applied) and not self.not_applied


def healing(plan: Plan, results: Mapping[tuple[str, str], tuple[str, str | None]]) -> Healing:
    """Match the planned repository changes with the apply's outcome per (registry, repository):
    (result, error). A planned change the apply did not report on was not healed."""
    applied: list[str] = []
    missing: list[tuple[str, str]] = []
    for registry in plan.registries:
        for change in registry.changes:
            if change.action not in _WRITES:
                continue
            name = f"{registry.registry}/{change.repository}"
            result, error = results.get((registry.registry, change.repository), ("not written", None))
            if result in ("applied", "in-line"):  # in line: another run wrote the same meanwhile
                applied.append(name)
            else:
                missing.append((name, f"{result}: {error}" if error else result))
    return Healing(tuple(applied), tuple(missing))
