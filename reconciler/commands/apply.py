"""`reconciler apply`: converge repositories and the provider config on policies/ (or on a saved plan)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.apply.executor import (
    ApplyOptions,
    ApplySummary,
    Executor,
    check_blast_radius,
    count_changes,
    merge_summaries,
)
from reconciler.apply.journal import Journal, default_report_path
from reconciler.commands.options import (
    add_scope_arguments,
    add_tuning_arguments,
    positive_int,
    scope_from,
    tuning_from,
)
from reconciler.desired.model import DesiredState, Registry, registry_fingerprint
from reconciler.errors import ReconcilerError
from reconciler.pipeline import Scope, Tuning, ecr_client, load_desired, make_plan, nullplatform_client
from reconciler.plan.model import Plan, RegistryPlan
from reconciler.principals import verify_principals
from reconciler.report.progress import Progress
from reconciler.report.text import render_text


def add_write_arguments(parser: argparse.ArgumentParser) -> None:
    add_scope_arguments(parser)
    parser.add_argument(
        "--max-changes",
        type=positive_int,
        metavar="N",
        help="refuse, before writing anything, when the plan has more than N changes",
    )
    parser.add_argument("--report", metavar="FILE", help="append every write to FILE (JSON lines)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    add_tuning_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", metavar="FILE", help="apply this saved plan (from `plan --out`)")
    add_write_arguments(parser)


def load_saved_plan(path: str, desired: DesiredState, scope: Scope) -> Plan:
    """A saved plan, checked against today's policies/ and narrowed to the scope."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"cannot read plan {path}: {exc.strerror}") from exc
    plan = Plan.from_json(text, source=path)
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
            ecr = ecr_client(registry, tuning)
            executor = Executor(
                registry_plan,
                desired=registry,
                role_arn=registry.role_arn,
                ecr=ecr,
                provider=nullplatform,
                journal=journal,
                options=options,
                on_done=progress.advance,
                templates=ecr,
            )
            summaries.append(executor.run())
    return merge_summaries(summaries)


def print_summary(summary: ApplySummary, report: Path) -> None:
    for outcome in summary.failed:
        print(
            f"failed: {outcome.registry}/{outcome.name} ({outcome.target}): {outcome.error}", file=sys.stderr
        )
    for outcome in summary.outcomes:
        if outcome.result == "stale":
            print(f"stale, skipped: {outcome.registry}/{outcome.name}: {outcome.error}", file=sys.stderr)
    print(summary.line())
    print(f"Report: {report}")


def run_write(args: argparse.Namespace, *, include_provider: bool, saved_plan: str | None) -> int:
    scope = scope_from(args, include_provider=include_provider)
    tuning = tuning_from(args)
    desired, _ = load_desired(args.policies, scope)
    if saved_plan:
        plan = load_saved_plan(saved_plan, desired, scope)
        # Organizations may have changed since the plan: check again before any write.
        verify_principals([desired.registry(r.registry) for r in plan.registries])
    else:
        plan = make_plan(args.policies, scope, tuning)
    options = ApplyOptions(
        dry_run=args.dry_run,
        max_changes=args.max_changes,
        concurrency=tuning.workers,
        verify_live=saved_plan is not None,
        match_rendering=saved_plan is not None,
        include_provider=scope.include_provider,
    )
    sys.stdout.write(render_text(plan, colour=sys.stdout.isatty()))
    report = Path(args.report) if args.report else default_report_path()
    registries = [desired.registry(r.registry) for r in plan.registries]
    summary = execute(plan, registries, scope=scope, tuning=tuning, options=options, report=report)
    print_summary(summary, report)
    return 0 if summary.ok else 1


def run(args: argparse.Namespace) -> int:
    return run_write(args, include_provider=True, saved_plan=args.plan)
