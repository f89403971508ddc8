"""`reconciler restore`: put back the policies an apply report recorded.

A restore is a saved plan in disguise: each repository goes from what the apply wrote back to what it
found, through the same executor (re-read and skip if changed since, last gate, journal).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from reconciler.apply.executor import ApplyOptions
from reconciler.apply.journal import default_report_path, read_journal
from reconciler.apply.restore import RestoreTarget, restore_targets
from reconciler.commands.apply import execute, print_summary
from reconciler.commands.options import add_tuning_arguments, tuning_from
from reconciler.desired.model import PullAccess, Registry
from reconciler.live.ecr import EcrClient
from reconciler.pipeline import Scope, Tuning, ecr_client
from reconciler.plan.fingerprint import live_fingerprint
from reconciler.plan.model import Action, Plan, RegistryPlan, RepositoryChange


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", required=True, metavar="FILE", help="the apply report to undo")
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
        repository=target.repository,
        action=action,
        before=target.expected_live,
        after=target.restore_to,
        live_fingerprint=live_fingerprint(target.expected_live),
    )


def restore_plan(targets: list[RestoreTarget]) -> tuple[Plan, list[Registry]]:
    grouped: dict[str, list[RestoreTarget]] = defaultdict(list)
    for target in targets:
        grouped[target.registry].append(target)
    plans: list[RegistryPlan] = []
    registries: list[Registry] = []
    for name, items in sorted(grouped.items()):
        first = items[0]
        registries.append(
            Registry(name, first.account_id, first.region, pull_access=PullAccess(), role_arn=first.role_arn)
        )
        changes = tuple(_change(t) for t in items)
        plans.append(RegistryPlan(name, first.account_id, first.region, "restore", None, changes))
    return Plan(created_at="", desired_fingerprint="restore", registries=tuple(plans)), registries


def _landed(targets: list[RestoreTarget], tuning: Tuning) -> list[RestoreTarget]:
    """Drop the in-flight writes of a killed run that never reached AWS (live still equals `before`)."""
    kept: list[RestoreTarget] = []
    clients: dict[str, EcrClient] = {}
    for target in targets:
        if target.uncertain:
            if target.registry not in clients:
                _, (registry,) = restore_plan([target])
                clients[target.registry] = ecr_client(registry, tuning)
            live = clients[target.registry].read_policy(target.repository)
            if live.error is None and live_fingerprint(live.text) == live_fingerprint(target.restore_to):
                print(f"{target.registry}/{target.repository}: its last write never landed; nothing to do")
                continue
        kept.append(target)
    return kept


def run(args: argparse.Namespace) -> int:
    tuning = tuning_from(args)
    targets = _landed(restore_targets(read_journal(args.report), args.repository), tuning)
    plan, registries = restore_plan(targets)
    options = ApplyOptions(
        dry_run=args.dry_run, concurrency=tuning.concurrency, verify_live=True, include_provider=False
    )
    out = Path(args.out) if args.out else default_report_path("restore")
    print(f"Restoring {len(targets)} repositories from {args.report}")
    summary = execute(
        plan, registries, scope=Scope(include_provider=False), tuning=tuning, options=options, report=out
    )
    print_summary(summary, out)
    stale = [o for o in summary.outcomes if o.result == "stale"]
    if stale:
        print(f"{len(stale)} repositories changed since the apply and were left as they are.")
    return 0 if summary.ok and not stale else 1
