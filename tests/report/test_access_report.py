"""The access report's markdown stays within GitHub's 65,536 characters, however many repositories."""

from __future__ import annotations

import json

from reconciler.policy.audit import AccessReport, RegistryAccess, audit_repository
from reconciler.report.access_markdown import render_access_markdown
from reconciler.report.markdown import GITHUB_COMMENT_LIMIT

OWNER = "123456789012"


def _report(count: int, account: str | None = None) -> AccessReport:
    # Every repository grants a different account, so nothing groups: the worst case for size.
    repositories = tuple(
        audit_repository(
            f"team-{index:05d}/service-with-a-rather-long-name",
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": f"AllowPull{index}",
                            "Effect": "Allow",
                            "Principal": "*" if index % 2 else {"AWS": f"{index:012d}"},
                            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                        }
                    ],
                }
            ),
            owner=OWNER,
            account=account,
        )
        for index in range(count)
    )
    return AccessReport((RegistryAccess("main", OWNER, "us-east-1", repositories),), account=account)


def test_markdown_is_cut_to_fit_with_a_note_and_closed_markup() -> None:
    body = render_access_markdown(_report(3_000))
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "Cut to fit 65,536 characters" in body
    assert body.count("<details>") == body.count("</details>") == 1
    assert "**3000 repositories in 1 registry; findings: 1500 public.**" in body


def test_account_markdown_is_cut_to_fit() -> None:
    body = render_access_markdown(_report(3_000, account="000000000001"))
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "Cut to fit" in body
    assert "**1500 repositories may be pulled, 0 unresolved.**" in body


def test_small_markdown_is_not_cut() -> None:
    body = render_access_markdown(_report(20))
    assert "Cut to fit" not in body and body.count("</details>") == 1
