"""`reconciler apply`: converge repositories and the provider config on policies/ (or on a saved plan)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from reconciler.apply.executor import ApplySummary
from reconciler.apply.journal import Result, default_report_path
from reconciler.commands.options import (
    add_scope_arguments,
    add_tuning_arguments,
    positive_int,
    scope_from,
    tuning_from,
)
from reconciler.desired.model import Registry
from reconciler.plan.model import Plan
from reconciler.report.text import render_text, use_colour
from reconciler.run.runner import Run


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
            "the workflow that applies an approved plan sets it, so a skipped change is never a green run. "
            "A target that changed to what the plan would write is already in line, not stale"
        ),
    )
    add_write_arguments(parser)


def print_summary(summary: ApplySummary, report: Path) -> None:
    for outcome in summary.failed:
        print(
            f"failed: {outcome.registry}/{outcome.name} ({outcome.target}): {outcome.error}", file=sys.stderr
        )
    for outcome in summary.outcomes:
        if outcome.result == "stale":
            print(f"stale, skipped: {outcome.registry}/{outcome.name}: {outcome.error}", file=sys.stderr)
        elif outcome.result == Result.IN_LINE:  # a streamed apply said so on the target's own line
            print(f"already in line, nothing sent: {outcome.registry}/{outcome.name} ({outcome.target})")
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
    run = Run.to_write(args.policies, scope, tuning_from(args), dry_run=args.dry_run, saved_plan=saved_plan)
    report = Path(args.report) if args.report else default_report_path()

    def show_plan(plan: Plan) -> None:
        sys.stdout.write(render_text(plan, colour=use_colour(sys.stdout), policies=args.policies))

    def show_registry(registry: Registry) -> None:
        print(f"Registry {registry.name} ({registry.account_id}, {registry.region})", flush=True)

    applied = run.apply(
        max_changes=args.max_changes,
        report=report,
        on_plan=show_plan,
        on_registry=show_registry,
        # Ctrl-C, expired credentials, any error that ends the run: the report so far says what was written.
        on_ended_early=lambda reason: print_ended_early(report, reason),
    )
    print_summary(applied.summary, report)
    run.refuse_unmatched(applied)
    if not applied.summary.ok:
        return 1
    return 1 if getattr(args, "fail_on_stale", False) and refuse_stale(applied.summary) else 0


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


def run(args: argparse.Namespace) -> int:
    return run_write(args, include_provider=True, saved_plan=args.plan)
