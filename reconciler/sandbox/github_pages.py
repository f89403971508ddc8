"""The shape of the GitHub double's answers: comments and issues with GitHub's fields, pages with GitHub's
`Link` header, issues without the double's bookkeeping, timestamps as GitHub writes them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from reconciler.sandbox.rest import json_response

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
DOCS = "https://docs.github.com/rest/issues/comments"
ISSUES_DOCS = "https://docs.github.com/rest/issues/issues"


def new_comment(
    api: str, owner: str, repo: str, number: int, comment_id: int, body: str, login: str
) -> dict[str, Any]:
    """A new comment on issue or pull request `number`, as GitHub answers it (`api`: the double's URL)."""
    now = timestamp()
    return {
        "id": comment_id,
        "node_id": f"IC_sandbox{comment_id}",
        "url": f"{api}/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "html_url": f"https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{comment_id}",
        "issue_url": f"{api}/repos/{owner}/{repo}/issues/{number}",
        "body": body,
        "user": _user(login),
        "created_at": now,
        "updated_at": now,
    }


def new_issue(
    api: str,
    owner: str,
    repo: str,
    number: int,
    title: str,
    body: str,
    labels: list[str],
    login: str,
    sequence: int,
) -> dict[str, Any]:
    """A new open issue; `_sequence` (creation order, kept out of answers) orders issues created in the
    same second."""
    now = timestamp()
    return {
        "id": 2_000_000 + sequence,
        "number": number,
        "title": title,
        "body": body,
        "state": "open",
        "state_reason": None,
        "labels": [{"name": name} for name in dict.fromkeys(labels)],
        "user": _user(login),
        "url": f"{api}/repos/{owner}/{repo}/issues/{number}",
        "html_url": f"https://github.com/{owner}/{repo}/issues/{number}",
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "_sequence": sequence,
    }


def _user(login: str) -> dict[str, str]:
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def page(items: list[dict[str, Any]], request: Request, base: str, query: dict[str, str]) -> Response:
    """One page of `items`, with GitHub's `Link` header (next/last/first/prev)."""
    try:
        per_page = min(max(int(request.args.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
        number = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        message = "per_page and page must be integers"
        return json_response({"message": message, "documentation_url": DOCS}, 400)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(number - 1) * per_page : number * per_page]

    def link(target: int, rel: str) -> str:
        return f'<{base}?{urlencode(query | {"per_page": per_page, "page": target})}>; rel="{rel}"'

    links = []
    if number > 1:
        links += [link(number - 1, "prev"), link(1, "first")]
    if number < last:
        links += [link(number + 1, "next"), link(last, "last")]
    return json_response(chunk, 200, [("Link", ", ".join(links))] if links else [])


def public(issue: dict[str, Any]) -> dict[str, Any]:
    """An issue as the API answers it (without the double's bookkeeping)."""
    return {key: value for key, value in issue.items() if not key.startswith("_")}


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
