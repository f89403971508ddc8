"""`reconciler plan`: what would change, as text, markdown or JSON. Never writes to AWS or nullplatform."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reconciler.apply.summary import count_changes
from reconciler.commands.options import (
    add_scope_arguments,
    add_tuning_arguments,
    positive_int,
    scope_from,
    tuning_from,
)
from reconciler.plan.model import Plan
from reconciler.plan.planfile import plan_json, write_plan
from reconciler.report.markdown import render_markdown
from reconciler.report.text import render_text, use_colour
from reconciler.run.runner import make_plan

EXIT_CHANGES = 2
REPOSITORIES_ONLY = (
    "Repositories only: the provider config and the creation templates were not read or planned."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scope_arguments(parser)
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument(
        "--out", metavar="FILE", help="also save the plan as JSON (what `apply --plan` takes)"
    )
    parser.add_argument(
        "--since",
        metavar="SNAPSHOT",
        help="take the policies CloudTrail names no change to from this snapshot (a full read when it "
        "cannot be used; the plan says which)",
    )
    parser.add_argument(
        "--snapshot-out",
        metavar="FILE",
        help="also save what this full read sees, every repository of the registry included (for --since)",
    )
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes (0: none, 1: error)",
    )
    parser.add_argument(
        "--repositories-only",
        action="store_true",
        help=(
            "plan the repositories only: not the provider config, not the creation templates (what "
            "`backfill` writes; nothing is read from nullplatform)"
        ),
    )
    parser.add_argument(
        "--max-changes",
        type=positive_int,
        metavar="N",
        help=(
            "exit 1 after showing the plan when it has more than N changes (what `backfill --max-changes N` "
            "would refuse: the backfill workflow says so before anyone is asked to approve)"
        ),
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="text: every repository with its own lines (default: changes grouped by kind)",
    )
    add_tuning_arguments(parser)


def render(plan: Plan, fmt: str, policies: str = "policies/", verbose: bool = False) -> str:
    if fmt == "json":
        return plan_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, colour=use_colour(sys.stdout), policies=policies, verbose=verbose)


def exit_code(plan: Plan, detailed: bool) -> int:
    if plan.has_errors:
        return 1
    return EXIT_CHANGES if detailed and plan.has_changes else 0


def run(args: argparse.Namespace) -> int:
    scope = scope_from(args, include_provider=not args.repositories_only)
    plan = make_plan(
        args.policies, scope, tuning_from(args), since=args.since, snapshot_out=args.snapshot_out
    )
    if args.out:
        with Path(args.out).open("w", encoding="utf-8") as out:
            write_plan(plan, out)
    if args.format == "json":
        write_plan(plan, sys.stdout)  # piece by piece, as the file: never the whole text in memory
    else:
        if not scope.include_provider:
            # The plan's own line says "provider config: not managed"; here it was not even read.
            print(f"{REPOSITORIES_ONLY}\n")
        sys.stdout.write(render(plan, args.format, args.policies, args.verbose))
    changes = count_changes(plan, include_provider=scope.include_provider)
    if args.max_changes is not None and changes > args.max_changes:
        print(
            f"error: the plan has {changes} changes, more than --max-changes {args.max_changes}; "
            "narrow it with --registry/--repository, or raise the limit",
            file=sys.stderr,
        )
        return 1
    return exit_code(plan, args.detailed_exitcode)
