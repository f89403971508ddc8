"""`reconciler drift-issue`: keep the ONE drift tracking issue in line with the drift check's plans.

Its own command rather than a flag on `comment`: the target is the repository's issue list, not a pull
request; the issue has a life (opened, edited every run, closed with a comment when clean) that a sticky
comment does not; and it needs `issues: write`, a permission the plan comment's job must not get.

Several `--plan` files (one per registry from a matrix) are merged, as for the plan comment. The body goes
to the job summary before GitHub is called, so when GitHub fails the plan is still there and the step
fails loudly.

Exit codes: 0 clean (an open issue is closed), or every drifted repository healed in this run; 1 an error
(GitHub refused, a file unreadable); 2 drift or errors remain (the issue is open and up to date).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from reconciler.apply.journal import final_records, read_journal
from reconciler.errors import ReconcilerError
from reconciler.plan.drift import Verdict, assess, healing
from reconciler.plan.model import Plan
from reconciler.plan.planfile import read_plan
from reconciler.report.drift_issue import (
    LABEL,
    MARKER,
    TITLE,
    Seen,
    SelfHeal,
    first_seen,
    render_issue_body,
    resolved_comment,
)
from reconciler.report.github import GitHubClient, Issue, write_output, write_step_summary

EXIT_DRIFT = 2
# The issue body for a first-seen time (known only once the open issue has been read).
BodyFor = Callable[..., str]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan", action="append", default=[], metavar="FILE", help="plan JSON file(s) to merge"
    )
    parser.add_argument(
        "--error",
        action="append",
        default=[],
        metavar="TEXT",
        help="something that failed outside the plans (validation, a registry with no plan); repeatable",
    )
    parser.add_argument(
        "--healed",
        action="append",
        default=[],
        metavar="REPORT",
        help="the write report(s) of this run's self-heal apply",
    )
    parser.add_argument(
        "--self-heal", action="store_true", help="self-heal is turned on (DRIFT_SELF_HEAL=true)"
    )
    parser.add_argument(
        "--verdict",
        action="store_true",
        help="only decide: print clean, drift or healable (and set the step output `verdict`); no issue",
    )
    parser.add_argument("--label", default=LABEL, help=f"the tracking issue's label (default: {LABEL})")
    parser.add_argument("--no-post", action="store_true", help="only print and write the job summary")


def _plan(paths: list[str]) -> Plan:
    plans = [read_plan(path) for path in paths]
    return Plan.merge(plans) if plans else Plan(created_at="", desired_fingerprint="", registries=())


def _self_heal(args: argparse.Namespace, plan: Plan) -> SelfHeal:
    if not args.healed:
        return SelfHeal(enabled=args.self_heal)
    records = final_records([r for path in args.healed for r in read_journal(path)])
    results = {(r.registry, r.name): (r.result, r.error) for r in records if r.target == "repository"}
    return SelfHeal(enabled=args.self_heal, healing=healing(plan, results))


def _now() -> Seen:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repository, run_id = os.environ.get("GITHUB_REPOSITORY", ""), os.environ.get("GITHUB_RUN_ID", "")
    url = f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else ""
    return Seen(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), url)


def _ours(client: GitHubClient, label: str) -> list[Issue]:
    """Our open tracking issues, oldest first: the label narrows the listing, the marker confirms (anyone
    may put a label on an issue)."""
    return [issue for issue in client.list_issues(label) if MARKER in issue.body]


def _close_resolved(client: GitHubClient, label: str, now: Seen) -> str:
    closed = []
    for issue in _ours(client, label):
        client.create_comment(issue.number, resolved_comment(now, first_seen(issue.body)))
        client.update_issue(issue.number, state="closed", state_reason="completed")
        closed.append(f"#{issue.number}")
    return f"no drift; closed {', '.join(closed)}" if closed else "no drift; no open drift issue"


def _track(client: GitHubClient, args: argparse.Namespace, body_for: BodyFor, now: Seen) -> Issue:
    """Edit the open tracking issue (the oldest, if several) or open one; close any others as duplicates."""
    issues = _ours(client, args.label)
    if not issues:
        return client.create_issue(TITLE, body_for(first=now), (args.label,), marker=MARKER)
    kept, *duplicates = issues
    first = first_seen(kept.body) or Seen(kept.created_at)
    updated = client.update_issue(kept.number, title=TITLE, body=body_for(first=first))
    for duplicate in duplicates:
        client.create_comment(duplicate.number, f"Duplicate of #{kept.number}, where this drift is tracked.")
        client.update_issue(duplicate.number, state="closed", state_reason="not_planned")
    return updated


def run(args: argparse.Namespace) -> int:
    plan = _plan(args.plan)
    assessment = assess(plan, args.error)
    if args.verdict:
        print(assessment.verdict.value)
        write_output("verdict", assessment.verdict.value)
        for reason in assessment.reasons:
            print(f"not healable: {reason}", file=sys.stderr)
        return 0
    heal = _self_heal(args, plan)
    now = _now()
    body_for: BodyFor | None = None
    if assessment.verdict == Verdict.CLEAN:
        summary = f"### ECR policy drift\n\n✅ No drift: {plan.summary_line()}\n"
    else:
        body_for = partial(
            render_issue_body, plan, assessment, last_seen=now, heal=heal, run_errors=list(args.error)
        )
        summary = body_for(first=None)  # when drift was first seen is known once the issue is read
    if not write_step_summary(summary):
        sys.stdout.write(summary + "\n")
    healed = heal.healing is not None and heal.healing.complete and assessment.verdict == Verdict.HEALABLE
    code = 0 if body_for is None or healed else EXIT_DRIFT
    if args.no_post:
        return code
    client = GitHubClient.from_env()
    try:
        if body_for is None:
            print(_close_resolved(client, args.label, now))
            return code
        issue = _track(client, args, body_for, now)
    except ReconcilerError as exc:
        raise ReconcilerError(
            f"could not update the drift issue ({exc}); the plan is in the job summary"
        ) from exc
    write_output("issue", str(issue.number))
    write_step_summary(f"\nTracked in #{issue.number}: {issue.html_url}")
    print(f"drift tracked in issue #{issue.number} ({issue.html_url})")
    return code
