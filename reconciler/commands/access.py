"""`reconciler access`: who can pull what, from every live repository policy. Read-only.

Audits every repository of the registry, those that `repositories:` excludes included: an audit is about
what is live, not about what we manage. Paced like plan (the same EcrClient: one DescribeRepositories
page per 1,000 repositories, one GetRepositoryPolicy per repository).

Exit codes: 0; 1 when something could not be read (the audit is incomplete); 2 when `--fail-on` names a
kind of finding that was found.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler.commands.options import add_scope_arguments, add_tuning_arguments, tuning_from
from reconciler.desired.model import Registry
from reconciler.errors import ReconcilerError
from reconciler.live import stop
from reconciler.live.organizations import OrganizationsError, OrganizationsReader
from reconciler.live.state import LivePolicy
from reconciler.policy.access import OrgView
from reconciler.policy.audit import AccessReport, RegistryAccess, audit_repository
from reconciler.policy.findings import Kind
from reconciler.policy.organization import org_view
from reconciler.report.access_data import account_csv, account_json, report_csv, report_json
from reconciler.report.access_markdown import render_access_markdown
from reconciler.report.access_text import render_access_text
from reconciler.report.progress import Progress
from reconciler.run.clients import Clients
from reconciler.run.globs import in_registries, refuse_unmatched_globs
from reconciler.run.runner import load_desired
from reconciler.run.settings import Scope, Tuning

EXIT_FOUND = 2
KINDS = tuple(k.value for k in Kind)


def _account_id(text: str) -> str:
    if not re.fullmatch(r"\d{12}", text):
        raise argparse.ArgumentTypeError("must be a 12-digit AWS account id")
    return text


def _kinds(text: str) -> list[Kind]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    wrong = [n for n in names if n not in KINDS]
    if wrong or not names:
        raise argparse.ArgumentTypeError(
            f"unknown kind {', '.join(wrong) or text!r}; kinds: {', '.join(KINDS)}"
        )
    return [Kind(n) for n in names]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scope_arguments(parser)
    parser.add_argument(
        "--account",
        type=_account_id,
        metavar="ID",
        help="the repositories principals of this account may pull, and by which statements",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json", "csv"), default="text")
    parser.add_argument(
        "--out", metavar="FILE", help="also save the report as JSON (one read for a summary and an artifact)"
    )
    parser.add_argument(
        "--fail-on",
        type=_kinds,
        action="append",
        default=[],
        metavar="KIND[,KIND]",
        help=f"exit 2 when a finding of these kinds is found ({', '.join(KINDS)})",
    )
    add_tuning_arguments(parser)


def organization_view(registry: Registry, reader: OrganizationsReader | None = None) -> OrgView | None:
    """The organization as the evaluator needs it, read through `organization.role_arn` (one read per role
    and run, `reader` being the run's). None when the registry file has no `organization:`: org-path
    grants are then unresolved and "outside the organization" is not checked. A failure to read it is an
    error naming the role (never a silent audit without it)."""
    if registry.organization is None:
        return None
    organizations = reader or OrganizationsReader()
    try:
        organization = organizations.organization(registry.organization.role_arn)
    except OrganizationsError as exc:
        raise ReconcilerError(f"registry {registry.name} ({registry.source}): {exc}") from exc
    return org_view(organization)


def _read(registry: Registry, globs: Sequence[str], tuning: Tuning) -> tuple[list[LivePolicy], str | None]:
    ecr = Clients(tuning, write=False).ecr(registry)  # an audit reads: the read role
    try:
        names = [n for n in ecr.list_repositories() if not globs or any(fnmatchcase(n, g) for g in globs)]
        progress = Progress(f"reading {registry.name}", len(names), enabled=tuning.progress)
        stop.count_repositories(listed=len(names))

        def done(_: LivePolicy) -> None:
            stop.count_repositories(done=1)
            progress.advance()

        return ecr.read_policies(names, on_done=done), None
    except ReconcilerError as exc:
        return [], str(exc)
    finally:
        ecr.close()


def audit_registry(
    registry: Registry,
    globs: Sequence[str],
    tuning: Tuning,
    account: str | None,
    organizations: OrganizationsReader | None = None,
) -> RegistryAccess:
    org = organization_view(registry, organizations)
    policies, error = _read(registry, globs, tuning)
    return RegistryAccess(
        registry=registry.name,
        account_id=registry.account_id,
        region=registry.region,
        error=error,
        organization=org,
        repositories=tuple(
            audit_repository(
                p.repository, p.text, owner=registry.account_id, org=org, account=account, error=p.error
            )
            for p in policies
        ),
    )


def render(report: AccessReport, fmt: str) -> str:
    if report.account is not None:
        if fmt == "json":
            return account_json(report)
        if fmt == "csv":
            return account_csv(report)
    elif fmt == "json":
        return report_json(report)
    elif fmt == "csv":
        return report_csv(report)
    if fmt == "markdown":
        return render_access_markdown(report)
    return render_access_text(report)


def run(args: argparse.Namespace) -> int:
    _, registries = load_desired(args.policies, Scope(registry=args.registry))
    if not registries:
        raise ReconcilerError(f"no registries in {args.policies}")
    if args.account and len(registries) > 1:
        names = ", ".join(r.name for r in registries)
        raise ReconcilerError(f"--account needs --registry NAME when there are several registries ({names})")
    tuning = tuning_from(args)
    organizations = OrganizationsReader()  # the run's: one read of the organization per role
    report = AccessReport(
        tuple(audit_registry(r, args.repository, tuning, args.account, organizations) for r in registries),
        account=args.account,
    )
    if args.repository and not any(r.error for r in report.registries):
        listed = (a.repository for r in report.registries for a in r.repositories)
        refuse_unmatched_globs(args.repository, listed, f"repository {in_registries(registries)}")
    if args.out:
        Path(args.out).write_text(render(report, "json"), encoding="utf-8")
    sys.stdout.write(render(report, args.format))
    for error in report.errors():
        print(f"error: {error}", file=sys.stderr)
    found = Counter(f.kind.value for _, _, f in report.findings())
    if args.account and found:
        # The account answer's shape has no room for findings; they still count for --fail-on.
        summary = ", ".join(f"{n} {k}" for k, n in sorted(found.items()))
        print(f"findings: {summary} (run without --account for the details)", file=sys.stderr)
    if report.errors():
        return 1
    failing = sorted({k.value for kinds in args.fail_on for k in kinds} & set(found))
    if failing:
        print(f"found: {', '.join(failing)} (--fail-on)", file=sys.stderr)
        return EXIT_FOUND
    return 0
