"""`reconciler apply`: converge repositories and the provider config on policies/ (or on a saved plan)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
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
from reconciler.apply.journal import Journal, Result, default_report_path
from reconciler.apply.stream import StreamedApply, TargetStep, provider_step, template_step
from reconciler.commands.options import (
    add_scope_arguments,
    add_tuning_arguments,
    positive_int,
    scope_from,
    tuning_from,
)
from reconciler.desired.model import DesiredState, Registry, registry_fingerprint
from reconciler.errors import ReconcilerError
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.observe import observe_provider
from reconciler.live.state import LiveProvider, LiveRegistry
from reconciler.live.templates import observe_templates
from reconciler.pipeline import (
    Scope,
    Tuning,
    ecr_client,
    in_registries,
    load_desired,
    make_plan,
    nullplatform_client,
    plan_repositories,
    providers_elsewhere,
    refuse_globs_left,
    refuse_unmatched_globs,
)
from reconciler.plan.build import provider_change, template_changes
from reconciler.plan.model import Action, Plan, ProviderChange, RegistryPlan, TemplateChange
from reconciler.plan.planfile import read_plan
from reconciler.plan.providers import refuse_shared_providers
from reconciler.principals import verify_principals
from reconciler.report.progress import Progress, StreamProgress
from reconciler.report.text import render_text, use_colour


def add_write_arguments(parser: argparse.ArgumentParser) -> None:
    add_scope_arguments(parser)
    parser.add_argument(
        "--max-changes",
        type=positive_int,
        metavar="N",
        help=(
            "refuse, before writing anything, when there are more than N changes. To keep that promise "
            "apply then runs in two phases: it reads every repository first and writes after (slower than "
            "the default single streamed pass, and repositories created meanwhile wait for the next run)"
        ),
    )
    parser.add_argument("--report", metavar="FILE", help="append every write to FILE (JSON lines)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    add_tuning_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="FILE", help="apply this saved plan (from `plan --out`)")
    parser.add_argument(
        "--fail-on-stale",
        action="store_true",
        help=(
            "exit 1, naming them, when targets were skipped as stale (changed since the plan was made); "
            "the workflow that applies an approved plan sets it, so a skipped change is never a green run"
        ),
    )
    add_write_arguments(parser)


def load_saved_plan(path: str, desired: DesiredState, scope: Scope) -> Plan:
    """A saved plan, checked against today's policies/ and narrowed to the scope."""
    plan = read_plan(path)
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
    return Plan(plan.created_at, plan.desired_fingerprint, tuple(kept))


def execute(
    plan: Plan,
    registries: Sequence[Registry],
    *,
    scope: Scope,
    tuning: Tuning,
    options: ApplyOptions,
    report: Path,
) -> ApplySummary:
    """Write the plan, registry by registry; returns the combined summary. Refuses before any write.

    `registries` are the desired registries of the plan's registry plans, in the same order.
    """
    check_blast_radius(plan, options)
    nullplatform = nullplatform_client(registries, scope) if options.include_provider else None
    summaries: list[ApplySummary] = []
    with Journal(report) as journal:
        for registry_plan, registry in zip(plan.registries, registries, strict=True):
            writes = count_changes(Plan(plan.created_at, "", (registry_plan,)), include_provider=False)
            progress = Progress(f"writing {registry.name}", writes, enabled=tuning.progress)
            ecr = ecr_client(registry, tuning, write=not options.dry_run)
            executor = _executor(
                registry_plan, registry, ecr, nullplatform, journal, options, on_done=progress.advance
            )
            summaries.append(executor.run())
    return merge_summaries(summaries)


def stream(
    desired: DesiredState,
    registries: Sequence[Registry],
    saved: Plan | None,
    *,
    scope: Scope,
    tuning: Tuning,
    options: ApplyOptions,
    report: Path,
    matched: set[str] | None = None,
) -> ApplySummary:
    """Each registry in one streamed pass (reconciler.apply.stream): the provider config first, then
    listing, reading and writing at once, then the closing sweep. With `saved`, its registry plans (in the
    order of `registries`) give the provider and repository changes; the listing finds what is new since.
    The `--repository` globs that matched a repository are added to `matched`.
    """
    matched = set() if matched is None else matched
    nullplatform = nullplatform_client(registries, scope) if options.include_provider else None
    colour = use_colour(sys.stdout)
    providers = (
        _live_providers(desired, registries, scope, nullplatform)
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
            print(f"Registry {registry.name} ({registry.account_id}, {registry.region})", flush=True)
            ecr = ecr_client(registry, tuning, write=not options.dry_run)
            executor = _executor(
                registry_plan or _empty_plan(registry), registry, ecr, nullplatform, journal, options
            )
            steps: list[TargetStep] = []
            if options.include_provider and registry.nullplatform is not None:
                live = providers.get(registry.name)
                steps.append(provider_step(_provider_source(registry, registry_plan, live), colour))
            if options.include_provider and registry.creation_templates:
                steps.append(template_step(_template_source(registry, registry_plan, ecr), colour))
            progress = StreamProgress(f"applying {registry.name}", enabled=tuning.progress)
            summaries.append(
                StreamedApply(
                    executor,
                    registry,
                    ecr,
                    select=_selector(registry, scope, matched),
                    steps=steps,
                    saved=registry_plan,
                    workers=tuning.workers,
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
        templates=ecr,
    )


def _selector(registry: Registry, scope: Scope, matched: set[str]) -> Callable[[str], bool]:
    """The repositories a run manages: selected by the registry and, with --repository, by a glob (the
    globs that matched one are added to `matched`)."""

    def select(name: str) -> bool:
        if not registry.selects(name):
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


def _live_providers(
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


def print_summary(summary: ApplySummary, report: Path) -> None:
    for outcome in summary.failed:
        print(
            f"failed: {outcome.registry}/{outcome.name} ({outcome.target}): {outcome.error}", file=sys.stderr
        )
    for outcome in summary.outcomes:
        if outcome.result == "stale":
            print(f"stale, skipped: {outcome.registry}/{outcome.name}: {outcome.error}", file=sys.stderr)
    if summary.swept:
        print(
            f"Closing sweep: {summary.swept} repositories appeared during the pass and were brought in line"
        )
    if summary.left_for_next_run:
        names = ", ".join(summary.left_for_next_run)
        print(f"Left for the next run (appeared after the closing sweep, not read): {names}")
    print(summary.line())
    # The journal is opened at the first write: a dry run, or a run with nothing to write, leaves no file.
    print(f"Report: {report}" if report.exists() else "Report: none (nothing was written)")


def print_ended_early(report: Path, reason: BaseException) -> None:
    """Where the writes of a run that ended early are, and how to undo them (stderr: stdout may be a
    pipe being closed)."""
    why = "interrupted" if isinstance(reason, KeyboardInterrupt) else "stopped early"
    if report.exists():
        print(
            f"Apply {why}. The writes it made are in {report}; to put them back: "
            f"reconciler restore --report {shlex.quote(str(report))}",
            file=sys.stderr,
            flush=True,
        )
    elif isinstance(reason, KeyboardInterrupt):
        print(f"Apply {why} before any write (no report).", file=sys.stderr, flush=True)


def run_write(args: argparse.Namespace, *, include_provider: bool, saved_plan: str | None) -> int:
    scope = scope_from(args, include_provider=include_provider)
    tuning = tuning_from(args)
    desired, registries = load_desired(args.policies, scope)
    saved = load_saved_plan(saved_plan, desired, scope) if saved_plan else None
    if saved is not None:
        registries = tuple(desired.registry(r.registry) for r in saved.registries)
        saved = refuse_providers_shared_since(desired, registries, saved, scope)
    if not registries:
        raise ReconcilerError(f"no registries in {args.policies}")
    options = ApplyOptions(
        dry_run=args.dry_run,
        max_changes=args.max_changes,
        concurrency=tuning.workers,
        verify_live=saved is not None,
        match_rendering=saved is not None,
        include_provider=scope.include_provider,
    )
    report = Path(args.report) if args.report else default_report_path()
    if args.max_changes is None or saved is not None:
        # Organizations may have changed since any plan: check before anything is read or written.
        verify_principals(registries)
    matched: set[str] = set()
    try:
        if args.max_changes is None:
            summary = stream(
                desired,
                registries,
                saved,
                scope=scope,
                tuning=tuning,
                options=options,
                report=report,
                matched=matched,
            )
        else:
            # Two phases, to refuse before the first write: read everything, count, then write.
            plan = saved or make_plan(args.policies, scope, tuning, write=not args.dry_run)
            if scope.repositories and not any(r.error for r in plan.registries):
                refuse_unmatched_globs(scope.repositories, plan_repositories(plan), _where(registries))
            matched.update(scope.repositories)  # checked here, before any write
            sys.stdout.write(render_text(plan, colour=use_colour(sys.stdout), policies=args.policies))
            chosen = [desired.registry(r.registry) for r in plan.registries]
            summary = execute(plan, chosen, scope=scope, tuning=tuning, options=options, report=report)
    except BaseException as exc:
        # Ctrl-C, expired credentials, any error that ends the run: the report so far says what was written.
        print_ended_early(report, exc)
        raise
    print_summary(summary, report)
    if summary.ok:  # a registry that could not be listed may hold a match: its error says so
        refuse_globs_left(scope.repositories, set(scope.repositories) - matched, _where(registries))
    if not summary.ok:
        return 1
    return 1 if getattr(args, "fail_on_stale", False) and refuse_stale(summary) else 0


def refuse_stale(summary: ApplySummary) -> bool:
    """Name what was skipped as stale, as one error; True when there was any."""
    stale = [f"{o.registry}/{o.name}" for o in summary.outcomes if o.result == Result.STALE]
    if not stale:
        return False
    print(
        f"error: {len(stale)} skipped as stale (changed since the plan was made): {', '.join(stale)}; "
        "the next apply or the drift check brings them in line",
        file=sys.stderr,
    )
    return True


def _where(registries: Sequence[Registry]) -> str:
    return f"repository its policies manage {in_registries(registries)}"


def run(args: argparse.Namespace) -> int:
    return run_write(args, include_provider=True, saved_plan=args.plan)
