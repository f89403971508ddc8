"""A saved plan re-derived: each change must be what `policies/` renders from the policy it was planned
against (`apply --plan`, restore's last gate). The same code as planning, fed the saved `before`: a plan file
passes through CI storage and laptops, and must not be able to write anything `policies/` would not."""

from __future__ import annotations

import json

from reconciler.desired.model import Registry
from reconciler.live.state import LivePolicy, LiveProvider, LiveTemplate
from reconciler.plan.build import provider_change, repository_change, template_change
from reconciler.plan.model import ProviderChange, RepositoryChange, TemplateChange
from reconciler.policy.fingerprint import live_fingerprint
from reconciler.policy.normalize import equivalent

PLAN_MISMATCH = "the plan file does not match what policies/ renders"
# Since policy texts are written compact, a plan saved by an earlier version differs in text alone.
OLDER_PLAN = (
    "the plan file was made by an earlier version of the reconciler, which wrote policy texts indented "
    "(they are compact JSON now); plan again"
)


def _same_but_text(expected: str | None, saved: str | None) -> bool:
    """True when a saved `after` means what is rendered now but is not the same text."""
    if expected is None or saved is None or expected == saved:
        return False
    try:
        return equivalent(json.loads(expected), json.loads(saved))
    except json.JSONDecodeError:
        return False


def saved_change_problem(registry: Registry, change: RepositoryChange) -> str | None:
    """Why a saved plan's repository change is not what `policies/` renders from its `before`, or None.

    The same code as planning, fed the policy the change was planned against: a plan file passes through
    CI storage and laptops, and must not be able to write anything `policies/` would not.
    """
    if not registry.selects(change.repository):
        return f"{PLAN_MISMATCH}: {change.repository} is not managed by registry {registry.name}"
    if change.live_fingerprint != live_fingerprint(change.before):
        return f"{PLAN_MISMATCH}: its `before` and `live_fingerprint` disagree"
    expected = repository_change(registry, LivePolicy(change.repository, change.before))
    if (expected.action, expected.after) != (change.action, change.after):
        if expected.action == change.action and _same_but_text(expected.after, change.after):
            return f"{PLAN_MISMATCH}: {OLDER_PLAN}"
        return (
            f"{PLAN_MISMATCH} from the policy it was planned against ({expected.action} expected); plan again"
        )
    return None


def saved_provider_problem(registry: Registry, change: ProviderChange) -> str | None:
    """As saved_change_problem, for the provider config's `setup.policy`."""
    target = registry.nullplatform
    if target is None or change.nrn != target.nrn:
        return f"{PLAN_MISMATCH}: registry {registry.name} syncs no provider at {change.nrn}"
    if target.provider_id is not None and change.provider_id != target.provider_id:
        return f"{PLAN_MISMATCH}: policies/ names provider {target.provider_id}, not {change.provider_id}"
    expected = provider_change(registry, LiveProvider(change.nrn, change.provider_id, change.before))
    if (expected.action, expected.after) != (change.action, change.after):
        if expected.action == change.action and _same_but_text(expected.after, change.after):
            return f"{PLAN_MISMATCH}: {OLDER_PLAN}"
        return (
            f"{PLAN_MISMATCH} from the policy it was planned against ({expected.action} expected); plan again"
        )
    return None


def saved_template_problem(registry: Registry, change: TemplateChange) -> str | None:
    """As saved_change_problem, for a creation template's policy and `appliedFor`."""
    template = next((t for t in registry.creation_templates if t.prefix == change.prefix), None)
    if template is None:
        return f"{PLAN_MISMATCH}: registry {registry.name} declares no creation template {change.prefix}"
    if change.live_fingerprint != live_fingerprint(change.before):
        return f"{PLAN_MISMATCH}: its `before` and `live_fingerprint` disagree"
    live = LiveTemplate(
        change.prefix,
        exists=change.applied_for_before is not None,
        policy=change.before,
        applied_for=change.applied_for_before or (),
    )
    expected = template_change(registry, template, live)
    if (expected.action, expected.after, expected.applied_for_after) != (
        change.action,
        change.after,
        change.applied_for_after,
    ):
        if expected.action == change.action and _same_but_text(expected.after, change.after):
            return f"{PLAN_MISMATCH}: {OLDER_PLAN}"
        planned = f"from the template it was planned against ({expected.action} expected)"
        return f"{PLAN_MISMATCH} {planned}; plan again"
    return None
