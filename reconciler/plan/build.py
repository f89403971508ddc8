"""desired x live -> Plan. Pure: every input is already read; nothing here does I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.desired.model import (
    CreationTemplate,
    DesiredState,
    PullAccess,
    Registry,
    registry_fingerprint,
)
from reconciler.live.state import LivePolicy, LiveProvider, LiveRegistry, LiveTemplate
from reconciler.plan.access_changes import AfterGrants, compute_delta
from reconciler.plan.model import (
    Action,
    Difference,
    Plan,
    ProviderChange,
    RegistryPlan,
    RepositoryChange,
    TemplateChange,
)
from reconciler.policy import guard
from reconciler.policy.coverage import Grants
from reconciler.policy.deleted import deleted_principals, remove_deleted
from reconciler.policy.fingerprint import live_fingerprint
from reconciler.policy.grants import foreign_grant_notes
from reconciler.policy.normalize import ACCOUNT_ID, canonical_statements, equivalent
from reconciler.policy.organization import Organization
from reconciler.policy.ownership import SidOwner, merge, split
from reconciler.policy.render import (
    Statement,
    policy_text,
    provider_policy,
    render_policy,
    render_statements,
    repository_statements,
    template_statements,
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _access_sets(statements: Iterable[Any]) -> tuple[set[str], set[str], set[str]]:
    """Accounts, OU paths and actions granted by owned statements, for a readable difference.

    Allow statements only: an owned Deny grants nobody anything (it shows as an added or removed statement).
    The access delta (plan/access_changes.py) counts these accounts and paths per repository.
    """
    accounts: set[str] = set()
    paths: set[str] = set()
    actions: set[str] = set()
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions.update(str(a) for a in _as_list(statement.get("Action", [])))
        principal = statement.get("Principal")
        if isinstance(principal, dict):
            for value in _as_list(principal.get("AWS", [])):
                text = str(value)
                if text.startswith("arn:aws:iam::") and text.endswith(":root"):
                    text = text.split(":")[4]
                if ACCOUNT_ID.match(text):
                    accounts.add(text)
        condition = statement.get("Condition")
        for clauses in condition.values() if isinstance(condition, dict) else []:
            if not isinstance(clauses, dict):
                continue
            for key, values in clauses.items():
                if str(key).lower() == "aws:principalaccount":
                    accounts.update(str(v) for v in _as_list(values))
                elif str(key).lower() == "aws:principalorgpaths":
                    paths.update(str(v) for v in _as_list(values))
    return accounts, paths, actions


def difference(live_owned: list[Any], desired_owned: list[Statement]) -> Difference:
    live_accounts, live_paths, live_actions = _access_sets(live_owned)
    want_accounts, want_paths, want_actions = _access_sets(desired_owned)
    live_by_lower = {a.lower(): a for a in live_actions}
    want_by_lower = {a.lower(): a for a in want_actions}
    if not live_owned:
        # A new grant: who gets access is the news; the (always pull-only) actions and Sids are noise.
        return Difference(accounts_added=tuple(sorted(want_accounts)), paths_added=tuple(sorted(want_paths)))
    other: list[str] = []
    live_sids = {s.get("Sid") for s in live_owned if isinstance(s, dict)}
    want_sids = {s.get("Sid") for s in desired_owned}
    other += [f"remove statement {sid}" for sid in sorted(str(s) for s in live_sids - want_sids)]
    other += [f"add statement {sid}" for sid in sorted(str(s) for s in want_sids - live_sids)]
    result = Difference(
        accounts_added=tuple(sorted(want_accounts - live_accounts)),
        accounts_removed=tuple(sorted(live_accounts - want_accounts)),
        paths_added=tuple(sorted(want_paths - live_paths)),
        paths_removed=tuple(sorted(live_paths - want_paths)),
        actions_added=tuple(sorted(want_by_lower[a] for a in want_by_lower.keys() - live_by_lower.keys())),
        actions_removed=tuple(sorted(live_by_lower[a] for a in live_by_lower.keys() - want_by_lower.keys())),
        other=tuple(other),
    )
    if not result.lines() and canonical_statements(live_owned) != canonical_statements(desired_owned):
        return Difference(other=("rewrite owned statements (same accounts, paths and actions)",))
    return result


@dataclass(frozen=True)
class _Decision:
    action: Action
    after: str | None = None
    difference: Difference = field(default_factory=Difference)
    error: str | None = None
    notes: tuple[str, ...] = ()


def _decide(
    live_text: str | None,
    owns_sid: SidOwner,
    desired_owned: list[Statement],
    remove_deleted_principals: bool | None = None,
) -> _Decision:
    """What to do with one policy, repository or provider config.

    `remove_deleted_principals` (repositories only; None: not checked): False, a foreign statement naming a
    deleted principal's unique id is an error (ECR would refuse the write); True, those ids are removed
    from its `Principal` (never from `NotPrincipal`, which stays an error).
    """
    try:
        live_doc = json.loads(live_text) if live_text is not None else None
    except json.JSONDecodeError as exc:
        return _Decision(Action.ERROR, error=f"live policy is not valid JSON ({exc}); fix it by hand")
    if live_doc is not None and not isinstance(live_doc, dict):
        return _Decision(Action.ERROR, error="live policy is not a JSON object; fix it by hand")
    removals: tuple[str, ...] = ()
    base_doc = live_doc
    if remove_deleted_principals is not None and live_doc is not None:
        found = deleted_principals(live_doc, owns_sid)
        blocking = [d for d in found if d.not_principal or not remove_deleted_principals]
        if blocking:
            return _Decision(Action.ERROR, error="; ".join(d.problem() for d in blocking))
        if found:
            base_doc, removals = remove_deleted(live_doc, owns_sid)
    desired_doc = merge(base_doc, owns_sid, desired_owned)
    if equivalent(live_doc, desired_doc):
        return _Decision(Action.NOOP)
    diff = difference(split(live_doc, owns_sid).owned, desired_owned)
    if removals:
        # Shown on their own lines; never as accounts: a deleted principal has no access to lose.
        diff = replace(diff, other=(*removals, *diff.other))
    if desired_doc is None:
        return _Decision(Action.DELETE, difference=diff)
    after = policy_text(desired_doc)
    # What we render is ours whatever its Sid: pull only. Foreign statements: only never public.
    rendered = {s.get("Sid") for s in desired_owned}
    problems = guard.violations(desired_doc, lambda sid: sid in rendered or owns_sid(sid))
    if len(after) > guard.MAX_POLICY_CHARS:
        problems.append(f"the merged policy is {len(after)} characters; ECR allows {guard.MAX_POLICY_CHARS}")
    if problems:
        reason = "; ".join(problems)
        return _Decision(Action.ERROR, difference=diff, error=f"refusing to write this policy: {reason}")
    action = Action.CREATE if live_doc is None else Action.UPDATE
    return _Decision(action, after, diff, notes=foreign_grant_notes(desired_doc, owns_sid))


def repository_change(registry: Registry, live: LivePolicy) -> RepositoryChange:
    fingerprint = live_fingerprint(live.text)
    if live.error is not None:
        return RepositoryChange(live.repository, Action.ERROR, live.text, None, fingerprint, error=live.error)
    desired_owned = repository_statements(registry, live.repository)
    decision = _decide(live.text, registry.owns_sid, desired_owned, registry.remove_deleted_principals)
    return RepositoryChange(
        live.repository,
        decision.action,
        live.text,
        decision.after,
        fingerprint,
        decision.difference,
        decision.error,
        decision.notes,
    )


def provider_change(registry: Registry, live: LiveProvider) -> ProviderChange:
    if live.error is not None:
        return ProviderChange(live.nrn, live.provider_id, Action.ERROR, None, None, error=live.error)
    desired = provider_policy(registry)
    if live.policy is None:
        # Exactly the documented text (not a merge), so nullplatform stores the canonical policy.
        text = policy_text(desired)
        created = difference([], desired["Statement"])
        if live.blocked:
            return ProviderChange(live.nrn, live.provider_id, Action.ERROR, None, None, created, live.blocked)
        return ProviderChange(live.nrn, live.provider_id, Action.CREATE, None, text, created)
    decision = _decide(live.policy, registry.owns_sid, desired["Statement"])
    action, error = decision.action, decision.error
    if action == Action.DELETE:
        # The provider config must keep a policy for new repositories; rendering never yields an empty one.
        action, error = Action.ERROR, "the rendered provider policy would be empty"
    if action == Action.UPDATE and live.blocked:
        # Apply would refuse the write: shown as the error it is, in the plan someone approves.
        return ProviderChange(
            live.nrn, live.provider_id, Action.ERROR, live.policy, None, decision.difference, live.blocked
        )
    return ProviderChange(
        live.nrn,
        live.provider_id,
        action,
        live.policy,
        decision.after,
        decision.difference,
        error,
        decision.notes,
    )


def template_change(registry: Registry, template: CreationTemplate, live: LiveTemplate) -> TemplateChange:
    """A creation template's policy, planned like a repository's (foreign statements kept, compared by
    meaning), and its `appliedFor` brought in line with policies/."""
    # ECR allows an empty repositoryPolicy (min length 0, docs/AWS.md "Repository policies"): no policy.
    before = live.policy or None
    fingerprint = live_fingerprint(before)
    applied_for_before = live.applied_for if live.exists else None
    want_for = template.applied_for

    def change(action: Action, after: str | None = None, **rest: Any) -> TemplateChange:
        return TemplateChange(
            template.prefix, action, before, after, applied_for_before, want_for, fingerprint, **rest
        )

    if live.error is not None:
        return change(Action.ERROR, error=live.error)
    desired_owned = template_statements(registry, template)
    if not live.exists:
        # Exactly the rendered text (as for the provider config): a template holds only what we set.
        text = policy_text(render_policy(registry.account_id, registry.template_access(template)))
        return change(Action.CREATE, text, difference=difference([], desired_owned))
    decision = _decide(before, registry.owns_sid, desired_owned)
    if decision.action == Action.ERROR:
        return change(Action.ERROR, difference=decision.difference, error=decision.error)
    if decision.action == Action.DELETE:
        # Rendering never yields an empty policy (pull_access grants something); a template must keep one.
        return change(Action.ERROR, error="the rendered template policy would be empty")
    if decision.action == Action.NOOP and set(live.applied_for) == set(want_for):
        return change(Action.NOOP)
    # Only appliedFor changes: the policy goes back as read, in our compact text (the template is written
    # whole, see apply). NOOP means it parsed.
    if decision.action == Action.NOOP:
        after = None if before is None else policy_text(json.loads(before))
    else:
        after = decision.after
    return change(Action.UPDATE, after, difference=decision.difference, notes=decision.notes)


def template_changes(registry: Registry, live: LiveRegistry) -> tuple[TemplateChange, ...]:
    by_prefix = {t.prefix: t for t in live.templates}
    return tuple(
        template_change(registry, template, by_prefix[template.prefix])
        for template in registry.creation_templates
        if template.prefix in by_prefix  # observed only when the run covers templates
    )


def grants(statements: Iterable[Any]) -> Grants:
    """The accounts and OU paths statements grant (as the access delta reads them)."""
    accounts, paths, _ = _access_sets(statements)
    return Grants(frozenset(accounts), frozenset(paths))


def after_grants(registry: Registry) -> AfterGrants:
    """What policies/ renders per target, for the access delta (rendered once per distinct access)."""
    by_access: dict[PullAccess, Grants] = {}

    def of(access: PullAccess) -> Grants:
        found = by_access.get(access)
        if found is None:
            found = by_access[access] = grants(render_statements(registry.account_id, access))
        return found

    templates = {t.prefix: t for t in registry.creation_templates}
    return AfterGrants(
        repository=lambda name: of(registry.access_for(name)),
        provider=lambda: of(registry.pull_access),
        template=lambda prefix: of(registry.template_access(templates[prefix])),
    )


def build_registry_plan(
    registry: Registry, live: LiveRegistry, organization: Organization | None = None
) -> RegistryPlan:
    """`organization`: the registry's organization as read for `organization:` (None: not configured);
    the access delta resolves grants against it."""
    changes: list[RepositoryChange] = []
    unchanged: list[str] = []
    gone: list[str] = []
    for policy in live.policies:
        if not registry.selects(policy.repository):
            continue  # observe should not even read these; never plan for them
        if policy.gone:
            gone.append(policy.repository)
            continue
        change = repository_change(registry, policy)
        if change.action == Action.NOOP:
            unchanged.append(change.repository)
        else:
            changes.append(change)
    provider = provider_change(registry, live.provider) if live.provider is not None else None
    planned = RegistryPlan(
        registry=registry.name,
        account_id=registry.account_id,
        region=registry.region,
        desired_fingerprint=registry_fingerprint(registry),
        provider=provider,
        changes=tuple(sorted(changes, key=lambda c: c.repository)),
        unchanged=tuple(sorted(unchanged)),
        error=live.error,
        gone=tuple(sorted(gone)),
        templates=template_changes(registry, live),
        source=live.source,
    )
    return replace(planned, access=compute_delta(planned, after_grants(registry), organization))


def build_plan(
    desired: DesiredState,
    live: Iterable[LiveRegistry],
    organizations: Mapping[str, Organization] | None = None,
) -> Plan:
    """`organizations`: per registry name, its organization (registries with `organization:`)."""
    by_name = {r.name: r for r in desired.registries}
    found = organizations or {}
    registries = tuple(build_registry_plan(by_name[item.name], item, found.get(item.name)) for item in live)
    return Plan(
        created_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        desired_fingerprint=desired.fingerprint(),
        registries=registries,
    )
