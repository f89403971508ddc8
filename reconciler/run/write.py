"""The write half: a plan written registry by registry (two-phase apply, restore), or each registry in one
streamed pass (reconciler.apply.stream) that reads and writes at once."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler.apply.executor import (
    ApplyOptions,
    ApplySummary,
    Executor,
    check_blast_radius,
    count_changes,
    merge_summaries,
)
from reconciler.apply.journal import Journal
from reconciler.apply.stream import StreamedApply, TargetStep, provider_step, template_step
from reconciler.desired.model import DesiredState, Registry, registry_fingerprint
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.state import LiveProvider, LiveRegistry
from reconciler.live.templates import observe_templates
from reconciler.plan.build import provider_change, template_changes
from reconciler.plan.model import Plan, ProviderChange, RegistryPlan, TemplateChange
from reconciler.report.progress import Progress, StreamProgress
from reconciler.report.text import use_colour
from reconciler.run.clients import Clients
from reconciler.run.globs import plan_repositories
from reconciler.run.preflight import live_providers
from reconciler.run.settings import Scope


def execute(
    plan: Plan,
    registries: Sequence[Registry],
    *,
    scope: Scope,
    clients: Clients,
    options: ApplyOptions,
    report: Path,
) -> ApplySummary:
    """Write the plan, registry by registry; returns the combined summary. Refuses before any write.

    `registries` are the desired registries of the plan's registry plans, in the same order.
    """
    check_blast_radius(plan, options)
    nullplatform = clients.nullplatform(registries, scope) if options.include_provider else None
    summaries: list[ApplySummary] = []
    with Journal(report) as journal:
        for registry_plan, registry in zip(plan.registries, registries, strict=True):
            writes = count_changes(Plan(plan.created_at, "", (registry_plan,)), include_provider=False)
            progress = Progress(f"writing {registry.name}", writes, enabled=clients.tuning.progress)
            executor = _executor(
                registry_plan,
                registry,
                clients.ecr(registry),
                nullplatform,
                journal,
                options,
                on_done=progress.advance,
            )
            summaries.append(executor.run())
    return merge_summaries(summaries)


def stream(
    desired: DesiredState,
    registries: Sequence[Registry],
    saved: Plan | None,
    *,
    scope: Scope,
    clients: Clients,
    options: ApplyOptions,
    report: Path,
    matched: set[str],
    on_registry: Callable[[Registry], None],
) -> ApplySummary:
    """Each registry in one streamed pass (reconciler.apply.stream): the provider config first, then
    listing, reading and writing at once, then the closing sweep. With `saved`, its registry plans (in the
    order of `registries`) give the provider and repository changes; the listing finds what is new since.
    The `--repository` globs that matched a repository are added to `matched`; `on_registry` is told of
    each registry before its pass.
    """
    nullplatform = clients.nullplatform(registries, scope) if options.include_provider else None
    colour = use_colour(sys.stdout)
    providers = (
        live_providers(desired, registries, scope, nullplatform)
        if saved is None and options.include_provider
        else {}
    )
    summaries: list[ApplySummary] = []
    with Journal(report) as journal:
        for index, registry in enumerate(registries):
            registry_plan = saved.registries[index] if saved is not None else None
            if registry_plan is not None and scope.repositories:
                # The plan's repositories are not listed again (only those it does not know are).
                names = plan_repositories(Plan("", "", (registry_plan,)))
                matched.update(g for n in names for g in scope.repositories if fnmatchcase(n, g))
            on_registry(registry)
            ecr = clients.ecr(registry)
            executor = _executor(
                registry_plan or _empty_plan(registry), registry, ecr, nullplatform, journal, options
            )
            steps: list[TargetStep] = []
            if options.include_provider and registry.nullplatform is not None:
                live = providers.get(registry.name)
                steps.append(provider_step(_provider_source(registry, registry_plan, live), colour))
            if options.include_provider and registry.creation_templates:
                steps.append(template_step(_template_source(registry, registry_plan, ecr), colour))
            progress = StreamProgress(f"applying {registry.name}", enabled=clients.tuning.progress)
            summaries.append(
                StreamedApply(
                    executor,
                    registry,
                    ecr,
                    select=_selector(registry, scope, matched),
                    steps=steps,
                    saved=registry_plan,
                    workers=clients.tuning.workers,
                    progress=progress,
                    colour=colour,
                ).run()
            )
    return merge_summaries(summaries)


def _executor(
    plan: RegistryPlan,
    registry: Registry,
    ecr: EcrClient,
    nullplatform: NullplatformClient | None,
    journal: Journal,
    options: ApplyOptions,
    *,
    on_done: Callable[[], None] | None = None,
) -> Executor:
    """The writer for one registry: its ECR client writes the repositories and the creation templates."""
    return Executor(
        plan,
        desired=registry,
        # The role its writes go through, for the report (restore takes it from today's file instead).
        role_arn=registry.write_role_arn,
        ecr=ecr,
        provider=nullplatform,
        journal=journal,
        options=options,
        on_done=on_done,
    )


def _selector(registry: Registry, scope: Scope, matched: set[str]) -> Callable[[str], bool]:
    """The repositories a run manages: selected by the registry and, with --repository, by a glob (the
    globs that matched one are added to `matched`)."""

    def select(name: str) -> bool:
        if not registry.selects(name) or not scope.in_plan(name):
            return False
        if not scope.repositories:
            return True
        hits = {g for g in scope.repositories if fnmatchcase(name, g)}
        matched.update(hits)
        return bool(hits)

    return select


def _empty_plan(registry: Registry) -> RegistryPlan:
    """What the executor is given without a saved plan: the registry's name and place, for the report."""
    return RegistryPlan(
        registry.name, registry.account_id, registry.region, registry_fingerprint(registry), None, ()
    )


def _provider_source(
    registry: Registry, saved: RegistryPlan | None, live: LiveProvider | None
) -> Callable[[], ProviderChange | None]:
    """The provider change: the saved plan's, or planned now from the provider as read for this run."""
    if saved is not None:
        return lambda: saved.provider
    return lambda: None if live is None else provider_change(registry, live)


def _template_source(
    registry: Registry, saved: RegistryPlan | None, ecr: EcrClient
) -> Callable[[], Sequence[TemplateChange]]:
    """The creation template changes: the saved plan's, or planned now from a fresh read."""
    if saved is not None:
        return lambda: saved.templates
    return lambda: template_changes(
        registry, LiveRegistry(name=registry.name, templates=observe_templates(registry, ecr))
    )
