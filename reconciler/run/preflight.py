"""What a run checks before it reads or writes anything it plans from: the principals against AWS
Organizations, a saved plan against today's policies/, and provider configs that two registries (of this
run, or of one outside it) would both write."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from reconciler.desired.model import DesiredState, Registry, registry_fingerprint
from reconciler.errors import ReconcilerError
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.observe import observe_provider, resolve_provider_ids
from reconciler.live.state import LiveProvider, LiveRegistry
from reconciler.plan.model import Action, Plan, RegistryPlan
from reconciler.plan.planfile import read_plan
from reconciler.plan.providers import refuse_shared_providers
from reconciler.run.clients import nullplatform_client
from reconciler.run.globs import refuse_globs_outside_plan
from reconciler.run.settings import Scope


def providers_elsewhere(
    desired: DesiredState, registries: Sequence[Registry], scope: Scope
) -> dict[str, str]:
    """The provider ids of the registries outside this run that sync one (a CI job plans one registry):
    a provider shared with one of them must be refused here too, or each job would write it in turn."""
    in_run = {r.name for r in registries}
    others = [r for r in desired.registries if r.nullplatform is not None and r.name not in in_run]
    if not scope.include_provider or not others or not any(r.nullplatform for r in registries):
        return {}
    return resolve_provider_ids(others, nullplatform_client(others, scope))


def live_providers(
    desired: DesiredState,
    registries: Sequence[Registry],
    scope: Scope,
    nullplatform: NullplatformClient | None,
) -> dict[str, LiveProvider]:
    """Every provider config of the run, read before any write and refused where two registries resolve
    to one (reconciler.plan.providers), as `plan` does."""
    live = [LiveRegistry(name=r.name, provider=observe_provider(r, nullplatform)) for r in registries]
    elsewhere = providers_elsewhere(desired, registries, scope)
    checked = refuse_shared_providers(desired.registries, live, elsewhere)
    return {item.name: item.provider for item in checked if item.provider is not None}


def load_saved_plan(path: str, desired: DesiredState, scope: Scope) -> tuple[Plan, Scope]:
    """A saved plan, checked against today's policies/, and the scope narrowed to what the plan covers;
    the plan narrowed to that scope."""
    plan = read_plan(path)
    # Narrowed first: what is kept of the plan is what the narrowed scope selects.
    scope = scope.within_plan(plan.repositories, plan.repositories_only)
    refuse_globs_outside_plan(scope.repositories, plan.repositories, path)
    kept: list[RegistryPlan] = []
    for registry_plan in plan.registries:
        if scope.registry and registry_plan.registry != scope.registry:
            continue
        registry = desired.registry(registry_plan.registry)
        current = registry_fingerprint(registry)
        if current != registry_plan.desired_fingerprint:
            raise ReconcilerError(
                f"{path}: the plan for registry {registry_plan.registry!r} was made from other desired state "
                "than policies/ holds now; plan again"
            )
        # The fingerprint covers policies/, not these two fields of the file: they must agree with it.
        if (registry_plan.account_id, registry_plan.region) != (registry.account_id, registry.region):
            raise ReconcilerError(
                f"{path}: the plan for registry {registry_plan.registry!r} names account "
                f"{registry_plan.account_id} in {registry_plan.region}, but policies/ says "
                f"{registry.account_id} in {registry.region}; plan again"
            )
        changes = tuple(c for c in registry_plan.changes if scope.selects_repository(c.repository))
        # Templates go with the provider config (a --repository run leaves both alone).
        templates = registry_plan.templates if scope.include_provider else ()
        kept.append(
            RegistryPlan(
                registry=registry_plan.registry,
                account_id=registry.account_id,
                region=registry.region,
                desired_fingerprint=registry_plan.desired_fingerprint,
                provider=registry_plan.provider if scope.include_provider else None,
                changes=changes,
                unchanged=registry_plan.unchanged,
                error=registry_plan.error,
                gone=tuple(n for n in registry_plan.gone if scope.selects_repository(n)),
                templates=templates,
            )
        )
    return dataclasses.replace(plan, registries=tuple(kept)), scope


def refuse_providers_shared_since(
    desired: DesiredState, registries: Sequence[Registry], saved: Plan, scope: Scope
) -> Plan:
    """A saved plan with the provider of every registry that now shares it with another turned into an
    error, as `plan` would: another file's section may resolve to it since the plan was made (a file
    added, or a lookup that now finds it). The ids in the file are the plan's own lookups (the executor
    checks them again before a write); the other registries are looked up now."""
    if not scope.include_provider:
        return saved
    live = [
        LiveRegistry(item.registry, provider=LiveProvider(item.provider.nrn, item.provider.provider_id, None))
        for item in saved.registries
        if item.provider is not None
    ]
    elsewhere = providers_elsewhere(desired, registries, scope)
    refused = {
        item.name: item.provider.error
        for item in refuse_shared_providers(desired.registries, live, elsewhere)
        if item.provider is not None and item.provider.error is not None
    }
    if not refused:
        return saved
    return dataclasses.replace(
        saved,
        registries=tuple(
            dataclasses.replace(
                item,
                provider=dataclasses.replace(
                    item.provider, action=Action.ERROR, after=None, error=refused[item.registry]
                ),
            )
            if item.provider is not None and item.registry in refused
            else item
            for item in saved.registries
        ),
    )
