"""`reconciler restore`: put back the policies an apply report recorded.

A restore is a saved plan in disguise: each repository, nullplatform provider config and creation template
goes from what the apply wrote back to what it found, through the same executor (re-read and skip if changed
since, last gate, journal). A target that already holds what it found comes out of that re-read already in
line: a restore of the same report ran before, and it is named as already restored. The provider is
written as apply writes it: only the `setup` group, its policy replaced (reconciler.live.nullplatform).

Each registry's role comes from today's policies files (`--policies`), never from the report: the
`write_role_arn` for every call (reads included), the `read_role_arn` with `--dry-run`. A report registry
that today's files do not describe, or describe in another account or region, stops the run before
anything is read.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from reconciler.apply.executor import ApplyOptions, ApplySummary, Outcome
from reconciler.apply.journal import Result, default_report_path, read_journal
from reconciler.apply.restore import (
    PROVIDER,
    REPOSITORY,
    TEMPLATE,
    RestoreTarget,
    restore_targets,
    unrestorable,
)
from reconciler.commands.apply import print_summary
from reconciler.commands.options import add_tuning_arguments, tuning_from
from reconciler.desired.model import NullplatformTarget, PullAccess, Registry
from reconciler.errors import ReconcilerError
from reconciler.live.ecr import EcrClient
from reconciler.live.nullplatform import NullplatformClient
from reconciler.live.templates import policy_of
from reconciler.plan.model import (
    Action,
    Plan,
    ProviderChange,
    RegistryPlan,
    RepositoryChange,
    TemplateChange,
)
from reconciler.policy.fingerprint import live_fingerprint
from reconciler.run.clients import Clients, ecr_client
from reconciler.run.globs import refuse_unmatched_globs
from reconciler.run.settings import Scope, Tuning
from reconciler.run.write import execute
from reconciler.validation.loader import load_policies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", required=True, metavar="FILE", help="the apply report to undo")
    parser.add_argument(
        "--policies",
        default="policies",
        metavar="DIR",
        help="today's policies files: each registry's roles are taken from there, not from the report "
        "(default: policies)",
    )
    parser.add_argument("--repository", action="append", default=[], metavar="GLOB", help="only these")
    parser.add_argument("--dry-run", action="store_true", help="show what would be restored; write nothing")
    parser.add_argument("--out", metavar="FILE", help="journal of the restore's own writes")
    add_tuning_arguments(parser)


def _change(target: RestoreTarget) -> RepositoryChange:
    if target.restore_to is None:
        action = Action.DELETE
    else:
        action = Action.CREATE if target.expected_live is None else Action.UPDATE
    return RepositoryChange(
        repository=target.name,
        action=action,
        before=target.expected_live,
        after=target.restore_to,
        live_fingerprint=live_fingerprint(target.expected_live),
    )


def _provider_change(target: RestoreTarget) -> ProviderChange:
    # The report names the provider by id; its NRN is only needed to find a provider without one.
    return ProviderChange(
        nrn="",
        provider_id=target.name,
        action=Action.UPDATE,
        before=target.expected_live,
        after=target.restore_to,
    )


def _template_change(target: RestoreTarget) -> TemplateChange:
    """Back to the template as it was: its policy and appliedFor, or no template (deleted) when the apply
    created it. Every other field of the template is left as it is now."""
    if target.restore_applied_for is None:
        action = Action.DELETE
    else:
        action = Action.CREATE if target.expected_applied_for is None else Action.UPDATE
    return TemplateChange(
        prefix=target.name,
        action=action,
        before=target.expected_live,
        after=target.restore_to,
        applied_for_before=target.expected_applied_for,
        applied_for_after=target.restore_applied_for or (),
        live_fingerprint=live_fingerprint(target.expected_live),
    )


def _registry(first: RestoreTarget, provider: RestoreTarget | None, today: Registry) -> Registry:
    nullplatform = None if provider is None else NullplatformTarget(nrn="", provider_id=provider.name)
    return Registry(
        first.registry,
        first.account_id,
        first.region,
        pull_access=PullAccess(),
        read_role_arn=today.read_role_arn,
        write_role_arn=today.write_role_arn,
        nullplatform=nullplatform,
    )


def registries_today(targets: list[RestoreTarget], policies: str | Path) -> dict[str, Registry]:
    """Each registry of the report as today's policies files describe it (its roles are taken from there);
    raises ReconcilerError for one they do not describe, or place in another account or region."""
    if not targets:
        return {}
    desired = load_policies(policies)
    today: dict[str, Registry] = {}
    for target in targets:
        if target.registry in today:
            continue
        known = {r.name: r for r in desired.registries}
        registry = known.get(target.registry)
        if registry is None:
            raise ReconcilerError(
                f"registry {target.registry} of the report is not in {policies}: restore assumes the "
                "registry's write_role_arn from today's policies files, never from the report; point "
                "--policies at the files that describe it"
            )
        if (registry.account_id, registry.region) != (target.account_id, target.region):
            raise ReconcilerError(
                f"registry {target.registry} is account {registry.account_id} in {registry.region} in "
                f"{policies}, but account {target.account_id} in {target.region} in the report: its role "
                "would be for another registry; nothing was restored"
            )
        today[target.registry] = registry
    return today


def restore_plan(targets: list[RestoreTarget], today: Mapping[str, Registry]) -> tuple[Plan, list[Registry]]:
    grouped: dict[str, list[RestoreTarget]] = defaultdict(list)
    for target in targets:
        grouped[target.registry].append(target)
    plans: list[RegistryPlan] = []
    registries: list[Registry] = []
    for name, items in sorted(grouped.items()):
        first = items[0]
        repositories = tuple(_change(t) for t in items if t.target not in (PROVIDER, TEMPLATE))
        templates = tuple(_template_change(t) for t in items if t.target == TEMPLATE)
        # A registry has one provider config; a report appended to by runs against another provider id
        # gets a registry plan per extra provider, with no repositories.
        providers: list[RestoreTarget | None] = [t for t in items if t.target == PROVIDER] or [None]
        for index, provider in enumerate(providers):
            change = None if provider is None else _provider_change(provider)
            plans.append(
                RegistryPlan(
                    name,
                    first.account_id,
                    first.region,
                    "restore",
                    change,
                    repositories if index == 0 else (),
                    templates=templates if index == 0 else (),
                )
            )
            registries.append(_registry(first, provider, today[name]))
    return Plan(created_at="", desired_fingerprint="restore", registries=tuple(plans)), registries


def _kept_policy(target: RestoreTarget) -> bool:
    """Provider configs that had no policy before the apply are left alone: the provider write only ever
    sets `setup.policy`, never removes it nor writes null there (a null in `setup` reads like a hidden
    secret, see reconciler.live.nullplatform). So are templates that existed with no policy: whether an
    Update without `repositoryPolicy` removes it is not documented (docs/AWS.md, "Repository creation
    templates")."""
    if target.target == PROVIDER:
        return target.restore_to is None
    return target.target == TEMPLATE and target.restore_to is None and target.restore_applied_for is not None


def _without_policy_before(targets: list[RestoreTarget]) -> tuple[list[RestoreTarget], list[RestoreTarget]]:
    return [t for t in targets if not _kept_policy(t)], [t for t in targets if _kept_policy(t)]


def _live_policy(
    target: RestoreTarget,
    tuning: Tuning,
    clients: dict[str, EcrClient],
    today: Mapping[str, Registry],
    write: bool,
) -> str | None:
    """The target's policy now; raises ReconcilerError when it cannot be read."""
    if target.target == PROVIDER:
        return NullplatformClient.from_env().read_policy(target.name)
    if target.registry not in clients:
        _, (registry,) = restore_plan([target], today)
        clients[target.registry] = ecr_client(registry, tuning, write=write)
    if target.target == TEMPLATE:
        return policy_of(clients[target.registry].read_template(target.name))
    live = clients[target.registry].read_policy(target.name)
    if live.error is not None:
        raise ReconcilerError(live.error)
    return live.text


def _landed(
    targets: list[RestoreTarget], tuning: Tuning, today: Mapping[str, Registry], write: bool
) -> list[RestoreTarget]:
    """Drop the in-flight writes of a killed run that never landed (live still equals `before`); read with
    the role the run writes with (`write`), as every call of a writing run."""
    kept: list[RestoreTarget] = []
    clients: dict[str, EcrClient] = {}
    for target in targets:
        if target.uncertain:
            try:
                live = _live_policy(target, tuning, clients, today, write)
            except ReconcilerError:
                live = None  # unknown: the executor re-reads it and says what went wrong
            else:
                if live_fingerprint(live) == live_fingerprint(target.restore_to):
                    print(f"{target.registry}/{target.name}: its last write never landed; nothing to do")
                    continue
        kept.append(target)
    return kept


def _sort_key(outcome: Outcome) -> tuple[str, int, str]:
    return (outcome.registry, _ORDER.get(outcome.target, 2), outcome.name)


_ORDER = {PROVIDER: 0, TEMPLATE: 1}


def _put_back(outcome: Outcome, dry_run: bool) -> str:
    """What a restore did to one target, in words."""
    what = {
        ("repository", "delete"): "policy deleted (it had none before the apply)",
        ("template", "delete"): "template deleted (the apply created it)",
        ("template", "create"): "template created again, as it was",
    }.get((outcome.target, outcome.action), "policy put back as it was before the apply")
    verb = "would restore" if dry_run else "restored"
    return f"  {verb} {outcome.registry}/{outcome.name} ({outcome.target}): {what}"


def _already_restored(summary: ApplySummary) -> list[Outcome]:
    """The targets the write sequence found already in line: they hold again what the apply found (a
    restore of the same report already ran), not changed by someone else. They leave the summary's
    outcomes: each is named once, as already restored."""
    done = [o for o in summary.outcomes if o.result == Result.IN_LINE]
    for outcome in done:
        summary.outcomes.remove(outcome)
    return sorted(done, key=_sort_key)


def run(args: argparse.Namespace) -> int:
    tuning = tuning_from(args)
    records = read_journal(args.report)
    if args.repository:
        names = (r.name for r in records if r.target == REPOSITORY)
        refuse_unmatched_globs(args.repository, names, f"repository in {args.report}")
    targets, left = _without_policy_before(restore_targets(records, args.repository))
    for target in left:
        print(
            f"{target.registry}/{target.name} ({target.target}): it had no policy before the apply, and "
            f"restore never removes a {target.target}'s policy: left as it is"
        )
    blocked = [(t, why) for t in targets if (why := unrestorable(t))]
    for target, why in blocked:
        print(f"{target.registry}/{target.name} ({target.target}): {why}")
    targets = [t for t in targets if not unrestorable(t)]
    today = registries_today(targets, args.policies)
    targets = _landed(targets, tuning, today, write=not args.dry_run)
    plan, registries = restore_plan(targets, today)
    options = ApplyOptions(
        dry_run=args.dry_run,
        concurrency=tuning.workers,
        verify_live=True,
        include_provider=True,
        journal_in_line=False,
    )
    out = Path(args.out) if args.out else default_report_path("restore")
    providers = sum(1 for t in targets if t.target == PROVIDER)
    templates = sum(1 for t in targets if t.target == TEMPLATE)
    repositories = len(targets) - providers - templates
    also = f", {templates} creation templates" if templates else ""
    print(f"Restoring {repositories} repositories{also} and {providers} provider configs from {args.report}")
    clients = Clients(tuning, write=not args.dry_run)
    summary = execute(
        plan, registries, scope=Scope(include_provider=True), clients=clients, options=options, report=out
    )
    done = _already_restored(summary)
    put_back = [o for o in summary.outcomes if o.result in (Result.APPLIED, Result.DRY_RUN)]
    for outcome in sorted(put_back, key=_sort_key):
        print(_put_back(outcome, args.dry_run))
    for outcome in done:
        print(f"  already restored {outcome.registry}/{outcome.name} ({outcome.target})")
    print_summary(summary, out)
    stale = [o for o in summary.outcomes if o.result == Result.STALE]
    if stale:
        print(f"{len(stale)} targets changed since the apply and were left as they are.")
    if done and not put_back and not stale and summary.ok:
        print(f"Already restored: all {len(done)} targets hold what the apply found.")
    return 0 if summary.ok and not stale and not left and not blocked else 1
