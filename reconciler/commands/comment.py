"""`reconciler comment`: post or update the ONE sticky PR comment for a plan (or an apply report).

The body goes to the job summary first, so when posting fails the plan is still there and the step fails
loudly. Several `--plan` files (one per registry from a matrix) are merged into one comment.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from reconciler.apply.journal import read_journal
from reconciler.errors import ReconcilerError
from reconciler.plan.model import Plan
from reconciler.plan.planfile import read_plan
from reconciler.report.github import (
    GitHubClient,
    pull_request_number,
    run_provenance,
    write_step_summary,
)
from reconciler.report.markdown import plan_code_notice, render_markdown, render_report_markdown

MARKER_PREFIX = "<!-- ecr-policy-reconciler:"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--plan", action="append", metavar="FILE", help="plan JSON file(s) to merge")
    source.add_argument("--report", metavar="FILE", help="an apply report (JSON lines) to summarize")
    parser.add_argument("--pr", type=int, metavar="N", help="pull request number (default: from the event)")
    parser.add_argument("--commit", metavar="SHA", help="comment on the pull request that merged this commit")
    parser.add_argument("--key", default="plan", help="which sticky comment (default: plan)")
    parser.add_argument("--title", help="heading of the comment")
    parser.add_argument("--no-post", action="store_true", help="only print and write the job summary")
    parser.add_argument(
        "--base-commit",
        metavar="SHA",
        help="the base branch commit the plan was made against (named in the comment)",
    )
    parser.add_argument(
        "--plan-code-changed",
        action="append",
        default=[],
        metavar="PATH",
        help=(
            "a path this pull request changes that decides how the plan is made (reconciler/, the locks, "
            "the install action, the workflows); the comment says so above the plan"
        ),
    )


def _provenance(args: argparse.Namespace) -> str:
    provenance = run_provenance()
    base = args.base_commit
    if base is None:
        return provenance
    if not re.fullmatch(r"[0-9a-f]{7,40}", base):
        raise ReconcilerError(f"--base-commit {base!r} is not a commit id")
    against = f"Planned against base commit `{base[:7]}`: merged onto a newer base, the result may differ."
    return f"{provenance} {against}".strip()


def _body(args: argparse.Namespace, marker: str) -> str:
    if args.plan:
        plans = [read_plan(path) for path in args.plan]
        return render_markdown(
            Plan.merge(plans),
            title=args.title or "ECR policy plan",
            marker=marker,
            full_plan_hint="the job summary and the `plan` artifact",
            provenance=_provenance(args),
            caution=plan_code_notice(args.plan_code_changed),
        )
    records = read_journal(args.report)
    return render_report_markdown(records, title=args.title or "ECR policy apply", marker=marker)


def _target(args: argparse.Namespace, client: GitHubClient) -> int | None:
    if args.pr:
        return int(args.pr)
    if args.commit:
        numbers = client.pull_requests_for_commit(args.commit)
        return numbers[0] if numbers else None
    return pull_request_number(os.environ.get("GITHUB_EVENT_PATH"))


def run(args: argparse.Namespace) -> int:
    marker = f"{MARKER_PREFIX}{args.key} -->"
    body = _body(args, marker)
    if not write_step_summary(body):
        sys.stdout.write(body + "\n")
    if args.no_post:
        return 0
    client = GitHubClient.from_env()
    number = _target(args, client)
    if number is None:
        print("no pull request to comment on (not a pull_request event, no --pr); skipped", file=sys.stderr)
        return 0
    try:
        comment_id = client.upsert_comment(number, body, marker)
    except ReconcilerError as exc:
        raise ReconcilerError(
            f"could not post the comment on #{number} ({exc}); the plan is in the job summary"
        ) from exc
    print(f"comment {comment_id} on #{number} is up to date")
    return 0
