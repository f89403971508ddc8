"""A double of GitHub's issue-comment REST endpoints (pull requests are issues for comments):

- `GET /repos/{owner}/{repo}/issues/{number}/comments?per_page=&page=`: oldest first, per_page 1..100
  (default 30), a `Link` header with next/last/first/prev like GitHub's;
- `POST /repos/{owner}/{repo}/issues/{number}/comments` `{"body": ...}` -> 201 with the comment;
- `PATCH /repos/{owner}/{repo}/issues/comments/{id}` `{"body": ...}` -> 200; `DELETE` -> 204;
- `GET /repos/{owner}/{repo}/commits/{sha}/pulls`: the pull requests that merged a commit (registered
  with `merge_commit`);
- bodies over 65,536 characters -> 422 "Validation Failed" (as GitHub answers);
- `Authorization: Bearer <token>` or `token <token>` must carry the configured token (401 "Bad
  credentials" otherwise); a read-only token (what fork pull requests get) can read but writing
  answers 403 "Resource not accessible by integration".
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from reconciler.sandbox import LOCALHOST, RestService, json_response

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

DEFAULT_TOKEN = "sandbox-github-token"  # noqa: S105 (a fixed token for a local double)
MAX_COMMENT_LENGTH = 65_536
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
BOT_LOGIN = "github-actions[bot]"
DOCS = "https://docs.github.com/rest/issues/comments"


class GithubApi(RestService):
    """The GitHub comments double; a context manager. Route keys for counters and `fail_next`:
    "GET /repos/{owner}/{repo}/issues/{number}/comments", "POST" of the same,
    "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", "DELETE ...". `fail_next(502, 2)` gives
    two 502s then normal answers; `fail_next(500, None)` fails every request until reset."""

    service_name = "github"

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        read_only_tokens: set[str] | None = None,
        login: str = BOT_LOGIN,
        host: str = LOCALHOST,
        port: int = 0,
        seed: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self.token = token
        self.read_only_tokens = set(read_only_tokens or ())
        self.login = login
        # (owner, repo, number) -> comment ids, oldest first; id -> comment
        self._threads: dict[tuple[str, str, int], list[int]] = {}
        self._comments: dict[int, dict[str, Any]] = {}
        self._where: dict[int, tuple[str, str, int]] = {}
        self._next_id = 1_000_001
        self._merged: dict[tuple[str, str, str], list[int]] = {}  # (owner, repo, sha) -> PR numbers
        super().__init__(host=host, port=port, seed=seed)

    def routes(self) -> list[tuple[str, str, Callable[..., Response]]]:
        thread = "/repos/<owner>/<repo>/issues/<int:number>/comments"
        comment = "/repos/<owner>/<repo>/issues/comments/<int:comment_id>"
        return [
            (thread, "GET", self._list),
            (thread, "POST", self._create),
            (comment, "PATCH", self._update),
            (comment, "DELETE", self._delete),
            ("/repos/<owner>/<repo>/commits/<sha>/pulls", "GET", self._pulls),
        ]

    def environment(self) -> dict[str, str]:
        return {"GITHUB_API_URL": self.url, "GITHUB_TOKEN": self.token}

    # -- state --

    def reset(self) -> None:
        """No comments, no scripted faults, zeroed counters (tokens stay as constructed)."""
        with self._lock:
            self._threads.clear()
            self._comments.clear()
            self._where.clear()
            self._next_id = 1_000_001
            self._merged.clear()
        self.faults.reset()
        self.latency_ms = 0.0
        self.reset_stats()

    def add_comment(self, owner: str, repo: str, number: int, body: str, *, login: str = "someone") -> int:
        """A comment written by someone else (directly, no HTTP); returns its id."""
        return int(self._add(owner, repo, number, body, login)["id"])

    def merge_commit(self, owner: str, repo: str, sha: str, number: int) -> None:
        """Record that pull request `number` was merged as commit `sha`."""
        with self._lock:
            self._merged.setdefault((owner, repo, sha), []).append(number)

    def comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """The thread's comments, oldest first (copies)."""
        with self._lock:
            ids = self._threads.get((owner, repo, number), [])
            return [copy.deepcopy(self._comments[i]) for i in ids]

    def _add(self, owner: str, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        with self._lock:
            comment_id = self._next_id
            self._next_id += 1
            now = _timestamp()
            comment = {
                "id": comment_id,
                "node_id": f"IC_sandbox{comment_id}",
                "url": f"{self.url}/repos/{owner}/{repo}/issues/comments/{comment_id}",
                "html_url": f"https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{comment_id}",
                "issue_url": f"{self.url}/repos/{owner}/{repo}/issues/{number}",
                "body": body,
                "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"},
                "created_at": now,
                "updated_at": now,
            }
            self._comments[comment_id] = comment
            self._where[comment_id] = (owner, repo, number)
            self._threads.setdefault((owner, repo, number), []).append(comment_id)
            return copy.deepcopy(comment)

    # -- HTTP --

    def error(self, status: int, message: str, headers: Any = ()) -> Response:
        return json_response({"message": message, "documentation_url": DOCS}, status, headers)

    def _auth(self, request: Request, *, write: bool) -> Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "token") or token not in {self.token, *self.read_only_tokens}:
            return self.error(401, "Bad credentials")
        if write and token in self.read_only_tokens:
            return self.error(403, "Resource not accessible by integration")
        return None

    def _body(self, request: Request) -> str | Response:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
            return self.error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        body = str(payload["body"])
        if len(body) > MAX_COMMENT_LENGTH:
            return json_response(
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "IssueComment",
                            "code": "custom",
                            "field": "body",
                            "message": f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)",
                        }
                    ],
                    "documentation_url": DOCS,
                },
                422,
            )
        return body

    def _list(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=False)
        if denied is not None:
            return denied
        try:
            per_page = min(max(int(request.args.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
            page = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            return self.error(400, "per_page and page must be integers")
        everything = self.comments(owner, repo, number)
        last = max((len(everything) + per_page - 1) // per_page, 1)
        chunk = everything[(page - 1) * per_page : page * per_page]
        base = f"{self.url}/repos/{owner}/{repo}/issues/{number}/comments"

        def link(target: int, rel: str) -> str:
            return f'<{base}?{urlencode({"per_page": per_page, "page": target})}>; rel="{rel}"'

        links = []
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return json_response(chunk, 200, [("Link", ", ".join(links))] if links else [])

    def _create(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=True)
        if denied is not None:
            return denied
        body = self._body(request)
        if not isinstance(body, str):
            return body
        return json_response(self._add(owner, repo, number, body, self.login), 201)

    def _update(self, request: Request, owner: str, repo: str, comment_id: int) -> Response:
        denied = self._auth(request, write=True)
        if denied is not None:
            return denied
        body = self._body(request)
        if not isinstance(body, str):
            return body
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or self._where[comment_id][:2] != (owner, repo):
                return self.error(404, "Not Found")
            comment["body"] = body
            comment["updated_at"] = _timestamp()
            return json_response(copy.deepcopy(comment))

    def _pulls(self, request: Request, owner: str, repo: str, sha: str) -> Response:
        denied = self._auth(request, write=False)
        if denied is not None:
            return denied
        with self._lock:
            numbers = list(self._merged.get((owner, repo, sha), []))
        return json_response([{"number": n, "state": "closed", "merge_commit_sha": sha} for n in numbers])

    def _delete(self, request: Request, owner: str, repo: str, comment_id: int) -> Response:
        denied = self._auth(request, write=True)
        if denied is not None:
            return denied
        with self._lock:
            if comment_id not in self._comments or self._where[comment_id][:2] != (owner, repo):
                return self.error(404, "Not Found")
            del self._comments[comment_id]
            self._threads[self._where.pop(comment_id)].remove(comment_id)
        from werkzeug.wrappers import Response

        return Response(status=204)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
