"""The only GitHub client: the sticky pull-request comment, the drift tracking issue, the job summary.

Stdlib HTTP on purpose: a handful of REST calls do not justify a dependency. The token is sent only as a
header and never appears in an error message.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError

DEFAULT_API_URL = "https://api.github.com"
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(ReconcilerError):
    pass


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str  # open | closed
    labels: tuple[str, ...]
    html_url: str
    created_at: str

    @staticmethod
    def from_json(data: dict[str, Any]) -> Issue:
        return Issue(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            state=str(data.get("state") or ""),
            labels=tuple(
                str(label["name"] if isinstance(label, dict) else label) for label in data.get("labels") or []
            ),
            html_url=str(data.get("html_url") or ""),
            created_at=str(data.get("created_at") or ""),
        )


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        timeout: float = 15,
        max_attempts: int = 4,
        backoff: float = 1.0,
    ) -> None:
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise GitHubError(f"GITHUB_REPOSITORY {repository!r} is not owner/name")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self._token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff

    @classmethod
    def from_env(cls) -> GitHubClient:
        return cls(
            os.environ.get("GITHUB_API_URL", DEFAULT_API_URL),
            os.environ.get("GITHUB_TOKEN", ""),
            os.environ.get("GITHUB_REPOSITORY", ""),
        )

    def _request(self, method: str, url: str, payload: Any = None) -> tuple[Any, str]:
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "ecr-policy-reconciler",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        path = urllib.parse.urlsplit(url).path
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    body = response.read()
                    return (json.loads(body) if body else None), response.headers.get("Link", "")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}{_message(exc)}"
                if exc.code not in _RETRY_STATUSES:
                    raise GitHubError(f"GitHub {method} {path} failed: {last}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = type(exc).__name__
            if attempt < self.max_attempts:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        raise GitHubError(f"GitHub {method} {path} failed after {self.max_attempts} attempts: {last}")

    def _url(self, path: str) -> str:
        return f"{self.api_url}/repos/{self.repository}{path}"

    def _pages(self, url: str) -> list[Any]:
        """Every item of a listing, following GitHub's `Link: <...>; rel="next"` header."""
        items: list[Any] = []
        next_url: str | None = url
        while next_url:
            page, link = self._request("GET", next_url)
            items += page or []
            match = _NEXT_LINK.search(link)
            next_url = match.group(1) if match else None
        return items

    def list_comments(self, number: int) -> list[Comment]:
        return [
            Comment(int(c["id"]), str(c.get("body") or ""))
            for c in self._pages(self._url(f"/issues/{number}/comments?per_page=100"))
        ]

    def create_comment(self, number: int, body: str) -> int:
        created, _ = self._request("POST", self._url(f"/issues/{number}/comments"), {"body": body})
        return int(created["id"])

    def update_comment(self, comment_id: int, body: str) -> None:
        self._request("PATCH", self._url(f"/issues/comments/{comment_id}"), {"body": body})

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        pulls, _ = self._request("GET", self._url(f"/commits/{sha}/pulls"))
        return [int(p["number"]) for p in pulls or []]

    def list_issues(self, label: str, state: str = "open") -> list[Issue]:
        """Issues carrying `label`, oldest first; pull requests (which the issues API also lists) left out.

        Listing by label rather than the search API: search is eventually consistent, so an issue opened
        by yesterday's run might not be found and a second one would be opened.
        """
        query = urllib.parse.urlencode(
            {"labels": label, "state": state, "sort": "created", "direction": "asc", "per_page": 100}
        )
        return [
            Issue.from_json(item)
            for item in self._pages(self._url(f"/issues?{query}"))
            if "pull_request" not in item
        ]

    def create_issue(self, title: str, body: str, labels: tuple[str, ...] = ()) -> Issue:
        created, _ = self._request(
            "POST", self._url("/issues"), {"title": title, "body": body, "labels": list(labels)}
        )
        return Issue.from_json(created)

    def update_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
    ) -> Issue:
        fields = {"title": title, "body": body, "state": state, "state_reason": state_reason}
        payload = {key: value for key, value in fields.items() if value is not None}
        updated, _ = self._request("PATCH", self._url(f"/issues/{number}"), payload)
        return Issue.from_json(updated)

    def upsert_comment(self, number: int, body: str, marker: str) -> int:
        """Edit our earlier comment (found by its hidden marker) or add one; returns its id."""
        for comment in self.list_comments(number):
            if marker in comment.body:
                self.update_comment(comment.id, body)
                return comment.id
        return self.create_comment(number, body)


def _message(error: urllib.error.HTTPError) -> str:
    """GitHub's own words for a refusal ("Issues are disabled for this repo"), which say what to fix.
    Only its `message` field: a response never echoes the request's headers, so the token can't be in it."""
    try:
        data = json.loads(error.read() or b"{}")
    except (OSError, ValueError):
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return f" ({str(message)[:200]})" if message else ""


def pull_request_number(event_path: str | None) -> int | None:
    """The PR number of a pull_request event (None for other events)."""
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitHubError(f"cannot read GITHUB_EVENT_PATH {event_path}: {exc}") from exc
    pull = event.get("pull_request") if isinstance(event, dict) else None
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    return None


def _event(event_path: str | None) -> dict[str, Any]:
    if not event_path:
        return {}
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return event if isinstance(event, dict) else {}


def run_provenance(environ: dict[str, str] | None = None) -> str:
    """'Planned commit `abc1234` in [workflow run 42](…)' from the Actions environment ('' outside it).

    On a pull_request event GITHUB_SHA is GitHub's merge commit, which nobody recognises: the PR head
    (what the reviewer sees) is named when the event has it, GITHUB_SHA otherwise.
    """
    env = dict(os.environ) if environ is None else environ
    pull = _event(env.get("GITHUB_EVENT_PATH")).get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    head_sha = head.get("sha") if isinstance(head, dict) else None
    parts: list[str] = []
    if isinstance(head_sha, str) and re.fullmatch(r"[0-9a-f]{7,40}", head_sha):
        parts.append(f"Planned commit `{head_sha[:7]}` (the pull request's head, merged with its base)")
    elif re.fullmatch(r"[0-9a-f]{7,40}", env.get("GITHUB_SHA", "")):
        parts.append(f"Planned commit `{env['GITHUB_SHA'][:7]}`")
    server, repository, run_id = (
        env.get("GITHUB_SERVER_URL", ""),
        env.get("GITHUB_REPOSITORY", ""),
        env.get("GITHUB_RUN_ID", ""),
    )
    if server and re.fullmatch(r"[\w.-]+/[\w.-]+", repository) and run_id.isdigit():
        link = f"[workflow run {run_id}]({server.rstrip('/')}/{repository}/actions/runs/{run_id})"
        parts.append(f"in {link}" if parts else f"Planned in {link}")
    return " ".join(parts) + ("." if parts else "")


def write_step_summary(markdown: str) -> bool:
    """Append to the job summary when running in GitHub Actions; True when written."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as summary:
        summary.write(markdown + "\n")
    return True


def write_output(name: str, value: str) -> bool:
    """Set a step output (`$GITHUB_OUTPUT`) when running in GitHub Actions; True when written."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path or "\n" in value:
        return False
    with open(path, "a", encoding="utf-8") as outputs:
        outputs.write(f"{name}={value}\n")
    return True
