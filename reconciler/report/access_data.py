"""The access audit as data: JSON and CSV, for the whole audit or for one account's question."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

from reconciler.policy.access import Verdict
from reconciler.policy.audit import AccessReport, RepositoryAccess

SCHEMA_VERSION = 1


def _repository(repo: RepositoryAccess) -> dict[str, Any]:
    return {
        "repository": repo.repository,
        "policy": repo.has_policy,
        "error": repo.error,
        "grants": [
            {
                "statement": g.statement,
                "principals": list(g.principals),
                "conditions": list(g.conditions),
                "status": g.status,
                "denied_by": list(g.denied_by),
                "not_evaluated": list(g.not_evaluated),
                "accounts": list(g.accounts),
                "denied_accounts": list(g.denied_accounts),
            }
            for g in repo.grants
        ],
        "findings": [
            {"kind": f.kind.value, "statement": f.statement, "detail": f.detail} for f in repo.findings
        ],
    }


def report_json(report: AccessReport) -> str:
    counts = Counter(f.kind.value for _, _, f in report.findings())
    document = {
        "version": SCHEMA_VERSION,
        "findings": dict(sorted(counts.items())),
        "registries": [
            {
                "registry": r.registry,
                "account_id": r.account_id,
                "region": r.region,
                "error": r.error,
                "notes": r.notes,
                "repositories": [_repository(repo) for repo in r.repositories],
            }
            for r in report.registries
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _answers(report: AccessReport) -> list[tuple[str, RepositoryAccess]]:
    return [(r.registry, repo) for r in report.registries for repo in r.repositories]


def account_json(report: AccessReport) -> str:
    """The issue's shape, exactly: {"account", "repositories": [{"repository", "statements"}],
    "unresolved": [{"repository", "reason"}]}. A repository whose policy could not be read is unresolved:
    it is never silently counted in or out."""
    granted: list[dict[str, Any]] = []
    unresolved: list[dict[str, str]] = []
    for _, repo in _answers(report):
        answer = repo.answer
        if repo.error is not None or answer is None:
            unresolved.append({"repository": repo.repository, "reason": repo.error or "not evaluated"})
        elif answer.verdict == Verdict.YES:
            granted.append({"repository": repo.repository, "statements": list(answer.statements)})
        elif answer.verdict == Verdict.UNRESOLVED:
            unresolved.append({"repository": repo.repository, "reason": "; ".join(answer.reasons)})
    unresolved += [
        {"repository": "*", "reason": f"registry {r.registry}: {r.error}"}
        for r in report.registries
        if r.error
    ]
    document = {"account": report.account, "repositories": granted, "unresolved": unresolved}
    return json.dumps(document, indent=2) + "\n"


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def report_csv(report: AccessReport) -> str:
    """One row per grant, finding and error: registry, repository, type, kind, statement, detail."""
    rows: list[list[str]] = []
    for r in report.registries:
        if r.error:
            rows.append([r.registry, "", "error", "", "", r.error])
        for repo in r.repositories:
            if repo.error:
                rows.append([r.registry, repo.repository, "error", "", "", repo.error])
            for g in repo.grants:
                detail = g.audience
                if g.denied_by:
                    denied = f"; denied to {', '.join(g.denied_accounts)}" if g.denied_accounts else ""
                    detail += f" ({g.status} by {', '.join(g.denied_by)}{denied})"
                if g.not_evaluated:
                    detail += f" (not evaluated: {'; '.join(g.not_evaluated)})"
                rows.append([r.registry, repo.repository, "grant", g.status, g.statement, detail])
            for f in repo.findings:
                rows.append(
                    [r.registry, repo.repository, "finding", f.kind.value, f.statement or "", f.detail]
                )
            if not (repo.error or repo.grants or repo.findings):
                rows.append([r.registry, repo.repository, "none", "", "", "no pull grant"])
    return _csv(["registry", "repository", "type", "kind", "statement", "detail"], rows)


def account_csv(report: AccessReport) -> str:
    """One row per repository: the account, registry, repository, verdict, statements, reason."""
    rows: list[list[str]] = []
    account = report.account or ""
    for registry, repo in _answers(report):
        answer = repo.answer
        if repo.error is not None or answer is None:
            rows.append([account, registry, repo.repository, Verdict.UNRESOLVED.value, "", repo.error or ""])
            continue
        rows.append(
            [
                account,
                registry,
                repo.repository,
                answer.verdict.value,
                " ".join(answer.statements),
                "; ".join(answer.reasons),
            ]
        )
    return _csv(["account", "registry", "repository", "verdict", "statements", "reason"], rows)
