"""The only GitHub client: the sticky pull-request comment, the drift tracking issue, the job summary.

HTTP goes through reconciler.live.http (urllib3: pooled connections, timeouts, same-origin redirects only,
so the token never leaves for another host). On top of it, GitHub's own rules (docs/GITHUB_API.md):
rate limits are waited out as GitHub asks, within a bound; writes go one at a time, a second apart; a
POST whose outcome is unknown is looked up (by the comment's or issue's marker) before it is sent again.
The token is sent only as a header and never appears in an error message.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.live.clock import Clock
from reconciler.live.http import HttpClient, Retries
from reconciler.live.http_errors import HttpError, OutcomeUnknown
from reconciler.report.github_answers import github_message, header_number, rate_limit_wait

DEFAULT_API_URL = "https://api.github.com"
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
MAX_WAIT_ENV = "GITHUB_RATE_LIMIT_MAX_WAIT"
DEFAULT_MAX_WAIT = 600.0  # seconds one request may spend waiting on rate limits and retries
WRITE_INTERVAL = 1.0  # GitHub: make writes one at a time, at least a second apart


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


def max_wait_from_env(environ: dict[str, str] | None = None) -> float:
    """GITHUB_RATE_LIMIT_MAX_WAIT (seconds, >= 0), default 600."""
    value = (os.environ if environ is None else environ).get(MAX_WAIT_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_WAIT
    seconds = header_number(value)
    if seconds is None or seconds < 0:
        raise GitHubError(f"{MAX_WAIT_ENV}={value!r} is not a number of seconds")
    return seconds


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
        max_wait: float = DEFAULT_MAX_WAIT,
        write_interval: float = WRITE_INTERVAL,
        clock: Clock | None = None,
    ) -> None:
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
            raise GitHubError(f"GITHUB_REPOSITORY {repository!r} is not owner/name")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._http = HttpClient(
            self.api_url,
            service="GitHub",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "ecr-policy-reconciler",
            },
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            retries=Retries(
                attempts=max_attempts,
                backoff=backoff,
                backoff_cap=30.0,
                retry_after_cap=max_wait,
                max_wait=max_wait,
                statuses=_RETRY_STATUSES,
            ),
            rate_limit=rate_limit_wait,
            write_interval=write_interval,
            max_wait_setting=MAX_WAIT_ENV,
            clock=clock,
        )

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient({self.api_url!r}, {self.repository!r})"

    @classmethod
    def from_env(cls) -> GitHubClient:
        return cls(
            os.environ.get("GITHUB_API_URL", DEFAULT_API_URL),
            os.environ.get("GITHUB_TOKEN", ""),
            os.environ.get("GITHUB_REPOSITORY", ""),
            max_wait=max_wait_from_env(),
        )

    def _request(
        self, method: str, url: str, payload: Any = None, *, idempotent: bool | None = None
    ) -> tuple[Any, str]:
        """(parsed JSON, Link header). OutcomeUnknown passes through for the caller to recover; any
        other failure is a GitHubError."""
        path = urllib.parse.urlsplit(url).path
        try:
            answer = self._http.request(method, url, json=payload, idempotent=idempotent)
        except OutcomeUnknown:
            raise
        except HttpError as exc:
            raise GitHubError(str(exc)) from None
        if answer.status >= 400:
            raise GitHubError(f"GitHub {method} {path} failed: HTTP {answer.status}{github_message(answer)}")
        try:
            data = answer.json()
        except ValueError:
            raise GitHubError(
                f"GitHub {method} {path}: answered {answer.status} with a non-JSON body"
            ) from None
        return data, answer.headers.get("Link", "")

    def _write(self, method: str, url: str, payload: Any, landed: Any) -> Any:
        """A POST: sent once; when its outcome is unknown, `landed()` looks for what it would have made
        and only if there is none is it sent again (reconciler.live.http.HttpClient.recover_write)."""

        def send() -> Any:
            created, _ = self._request(method, url, payload)
            return created

        path = urllib.parse.urlsplit(url).path
        try:
            return self._http.recover_write(send, landed, f"GitHub {method} {path}")
        except HttpError as exc:
            raise GitHubError(str(exc)) from None

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

    def create_comment(self, number: int, body: str, *, marker: str | None = None) -> int:
        """Add a comment; returns its id. If the POST's outcome is unknown, the thread is read first: a
        comment carrying `marker` (or, without one, this exact body) is taken as the one it made."""

        def landed() -> dict[str, Any] | None:
            for comment in reversed(self.list_comments(number)):
                if marker is not None and marker in comment.body:
                    if comment.body != body:
                        self.update_comment(comment.id, body)
                    return {"id": comment.id}
                if marker is None and comment.body == body:
                    return {"id": comment.id}
            return None

        created = self._write("POST", self._url(f"/issues/{number}/comments"), {"body": body}, landed)
        return int(created["id"])

    def update_comment(self, comment_id: int, body: str) -> None:
        # Setting a body twice leaves it as once: safe to repeat after a lost answer.
        self._request("PATCH", self._url(f"/issues/comments/{comment_id}"), {"body": body}, idempotent=True)

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

    def create_issue(
        self, title: str, body: str, labels: tuple[str, ...] = (), *, marker: str | None = None
    ) -> Issue:
        """Open an issue. If the POST's outcome is unknown, the newest issues (with these labels) are
        read first: one carrying `marker` (or, without one, this title and body) is taken as the one it
        opened, so a retry never opens a second."""

        def landed() -> dict[str, Any] | None:
            query = {"state": "all", "sort": "created", "direction": "desc", "per_page": 100}
            if labels:
                query["labels"] = ",".join(labels)
            page, _ = self._request("GET", self._url(f"/issues?{urllib.parse.urlencode(query)}"))
            for item in page or []:
                if not isinstance(item, dict) or "pull_request" in item or item.get("state") != "open":
                    continue
                text = str(item.get("body") or "")
                if (marker is not None and marker in text) or (
                    marker is None and text == body and str(item.get("title") or "") == title
                ):
                    return item
            return None

        created = self._write(
            "POST", self._url("/issues"), {"title": title, "body": body, "labels": list(labels)}, landed
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
        updated, _ = self._request("PATCH", self._url(f"/issues/{number}"), payload, idempotent=True)
        return Issue.from_json(updated)

    def upsert_comment(self, number: int, body: str, marker: str) -> int:
        """Edit our earlier comment (found by its hidden marker) or add one; returns its id."""
        for comment in self.list_comments(number):
            if marker in comment.body:
                self.update_comment(comment.id, body)
                return comment.id
        return self.create_comment(number, body, marker=marker)


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
