"""A double of GitHub's issue and issue-comment REST endpoints (pull requests are issues for comments):

- `GET /repos/{owner}/{repo}/issues/{number}/comments?per_page=&page=`: oldest first, per_page 1..100
  (default 30), a `Link` header with next/last/first/prev like GitHub's;
- `POST /repos/{owner}/{repo}/issues/{number}/comments` `{"body": ...}` -> 201 with the comment;
- `PATCH /repos/{owner}/{repo}/issues/comments/{id}` `{"body": ...}` -> 200; `DELETE` -> 204;
- `GET /repos/{owner}/{repo}/commits/{sha}/pulls`: the pull requests that merged a commit (registered
  with `merge_commit`);
- "Get a commit" and "Compare two commits" of branches and commits set with `set_branch` and
  `add_commit` (github_commits.py);
- `GET /repos/{owner}/{repo}/issues?state=open|closed|all&labels=a,b&sort=created|updated&direction=
  asc|desc&per_page=&page=`: issues having every label (default: open, newest first, 30 a page), paged
  with a `Link` header; pull requests registered with `add_pull_request` are listed too, with a
  `pull_request` key, as GitHub lists them;
- `POST /repos/{owner}/{repo}/issues` `{"title", "body", "labels"}` -> 201 (labels that don't exist are
  created, as they are for a token with write access); no title -> 422;
- `GET /repos/{owner}/{repo}/issues/{number}` -> 200, 404;
  `PATCH` of it `{"title", "body", "state": "open"|"closed", "state_reason", "labels"}` -> 200;
- issues turned off for the repository (`issues_enabled = False`) -> 410 "Issues are disabled for this
  repo" on every issue route;
- bodies (comments and issues) over 65,536 characters -> 422 "Validation Failed" (as GitHub answers);
- `Authorization: Bearer <token>` or `token <token>` must carry the configured token (401 "Bad
  credentials" otherwise); a read-only token (what fork pull requests get) can read but writing
  answers 403 "Resource not accessible by integration".

Rate limits, as GitHub answers them ("Rate limits for the REST API", docs/GITHUB_API.md; the answers are
built in `github_limits.py`); a refused request is not carried out:
- `secondary_limit(every=2, retry_after=1)`: every `every`-th write (POST, PATCH, PUT, DELETE) is
  refused with the secondary rate limit: 403 (or `status=429`), "You have exceeded a secondary rate
  limit...", and a `retry-after` header when given;
- `limit_next(count, primary=True, reset_at=...)`: the next requests answered 403 "API rate limit
  exceeded..." with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds); with
  `primary=False`, the secondary-limit answer (with `retry_after` if given);
- `lose_answer_next` (every REST double): a request carried out whose answer is lost;
- `garble_next(count, routes=...)` (every REST double): answered 200 with half of the answer, not JSON.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.github_checks import comment_body, issue_fields
from reconciler.sandbox.github_commits import Commits, compare_commits, get_commit
from reconciler.sandbox.github_limits import RateLimits
from reconciler.sandbox.github_pages import DOCS, new_comment, new_issue, page, public, timestamp
from reconciler.sandbox.rest import RestService, json_response
from reconciler.sandbox.server import LOCALHOST

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

DEFAULT_TOKEN = "sandbox-github-token"  # noqa: S105 (a fixed token for a local double)
BOT_LOGIN = "github-actions[bot]"


class GithubApi(RestService):
    """The GitHub issues and comments double; a context manager. Route keys for counters and `fail_next`:
    "GET /repos/{owner}/{repo}/issues/{number}/comments", "POST" of the same,
    "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", "DELETE ...",
    "GET /repos/{owner}/{repo}/issues", "POST" of the same, "GET /repos/{owner}/{repo}/issues/{number}",
    "PATCH" of the same. `fail_next(502, 2)` gives two 502s then normal answers; `fail_next(500, None)`
    fails every request until reset."""

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
        self.commits = Commits()
        self._issues: dict[tuple[str, str, int], dict[str, Any]] = {}  # issues and pull requests
        self._sequence = 0  # creation order: timestamps have one-second resolution
        self.issues_enabled = True
        self.limits = RateLimits()
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
            ("/repos/<owner>/<repo>/commits/<ref>", "GET", partial(get_commit, self)),
            ("/repos/<owner>/<repo>/compare/<basehead>", "GET", partial(compare_commits, self)),
            ("/repos/<owner>/<repo>/issues", "GET", self._list_issues),
            ("/repos/<owner>/<repo>/issues", "POST", self._create_issue),
            ("/repos/<owner>/<repo>/issues/<int:number>", "GET", self._get_issue),
            ("/repos/<owner>/<repo>/issues/<int:number>", "PATCH", self._update_issue),
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
            self._issues.clear()
            self._sequence = 0
        self.issues_enabled = True
        self.commits.clear()
        self.limits.clear()
        self.faults.reset()
        self.latency_ms = 0.0
        self.reset_stats()

    # -- rate limits (`RateLimits`) and lost answers --

    def secondary_limit(
        self, every: int | None = 2, retry_after: float | None = 1, status: int = 403
    ) -> None:
        """Refuse every `every`-th write with GitHub's secondary rate limit (None: stop)."""
        self.limits.secondary(every, retry_after, status)

    def limit_next(
        self,
        count: int | None = 1,
        *,
        primary: bool = True,
        status: int = 403,
        retry_after: float | None = None,
        reset_at: int | None = None,
        routes: Iterable[str] | None = None,
    ) -> None:
        """Answer the next `count` requests (None: all, until reset) to `routes` (None: any) with the
        primary rate limit (`x-ratelimit-remaining: 0`, `x-ratelimit-reset: reset_at`) or, with
        `primary=False`, the secondary one; `retry_after` adds that header."""
        self.limits.next(count, primary, status, retry_after, reset_at, routes)

    def clear_limits(self) -> None:
        self.limits.clear()

    def _dispatch(self, key: str, request: Request, arguments: Mapping[str, Any]) -> Response:
        limited = self.limits.answer(key)
        if limited is not None:
            return limited
        return super()._dispatch(key, request, arguments)

    def add_comment(self, owner: str, repo: str, number: int, body: str, *, login: str = "someone") -> int:
        """A comment written by someone else (directly, no HTTP); returns its id."""
        return int(self._add(owner, repo, number, body, login)["id"])

    def merge_commit(self, owner: str, repo: str, sha: str, number: int) -> None:
        """Record that pull request `number` was merged as commit `sha`."""
        with self._lock:
            self._merged.setdefault((owner, repo, sha), []).append(number)

    def set_branch(self, owner: str, repo: str, branch: str, sha: str) -> None:
        """Branch `branch` now points at commit `sha` (a push, a merge)."""
        self.commits.set_branch(owner, repo, branch, sha)

    def add_commit(
        self,
        owner: str,
        repo: str,
        sha: str,
        parent: str,
        files: Sequence[str] | Mapping[str, str | None],
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        """Commit `sha`, child of `parent`, changed `files` (for "Compare two commits"; `Commits.add_commit`
        says how to change a file back or rename one)."""
        self.commits.add_commit(owner, repo, sha, parent, files, renamed)

    def add_pull_request(self, owner: str, repo: str, number: int, title: str = "a change") -> None:
        """A pull request, which the issues listing shows too (with a `pull_request` key)."""
        self._new_issue(owner, repo, title, "", [], "someone", number=number)
        with self._lock:
            pull = {"url": f"{self.url}/repos/{owner}/{repo}/pulls/{number}"}
            self._issues[(owner, repo, number)]["pull_request"] = pull

    def add_issue(
        self, owner: str, repo: str, title: str, body: str = "", labels: tuple[str, ...] = ()
    ) -> int:
        """An issue opened by someone else (directly, no HTTP); returns its number."""
        return int(self._new_issue(owner, repo, title, body, list(labels), "someone")["number"])

    def issues(self, owner: str, repo: str, *, state: str = "all") -> list[dict[str, Any]]:
        """The repository's issues (pull requests left out), oldest first (copies)."""
        with self._lock:
            found = [
                copy.deepcopy(issue)
                for (o, r, _), issue in self._issues.items()
                if (o, r) == (owner, repo) and "pull_request" not in issue
            ]
        found.sort(key=lambda issue: issue["_sequence"])
        return [issue for issue in found if state == "all" or issue["state"] == state]

    def _new_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str,
        labels: list[str],
        login: str,
        number: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            if number is None:
                used = [n for (o, r, n) in [*self._issues, *self._threads] if (o, r) == (owner, repo)]
                used += [
                    n
                    for (o, r, _), numbers in self._merged.items()
                    if (o, r) == (owner, repo)
                    for n in numbers
                ]
                number = max(used, default=0) + 1
            self._sequence += 1
            issue = new_issue(self.url, owner, repo, number, title, body, labels, login, self._sequence)
            self._issues[(owner, repo, number)] = issue
            return copy.deepcopy(issue)

    def comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """The thread's comments, oldest first (copies)."""
        with self._lock:
            ids = self._threads.get((owner, repo, number), [])
            return [copy.deepcopy(self._comments[i]) for i in ids]

    def _add(self, owner: str, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        with self._lock:
            comment_id = self._next_id
            self._next_id += 1
            comment = new_comment(self.url, owner, repo, number, comment_id, body, login)
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

    def _list(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=False)
        if denied is not None:
            return denied
        base = f"{self.url}/repos/{owner}/{repo}/issues/{number}/comments"
        return page(self.comments(owner, repo, number), request, base, {})

    def _create(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=True)
        if denied is not None:
            return denied
        body = comment_body(request)
        if not isinstance(body, str):
            return body
        return json_response(self._add(owner, repo, number, body, self.login), 201)

    def _update(self, request: Request, owner: str, repo: str, comment_id: int) -> Response:
        denied = self._auth(request, write=True)
        if denied is not None:
            return denied
        body = comment_body(request)
        if not isinstance(body, str):
            return body
        with self._lock:
            comment = self._comments.get(comment_id)
            if comment is None or self._where[comment_id][:2] != (owner, repo):
                return self.error(404, "Not Found")
            comment["body"] = body
            comment["updated_at"] = timestamp()
            return json_response(copy.deepcopy(comment))

    def _pulls(self, request: Request, owner: str, repo: str, sha: str) -> Response:
        denied = self._auth(request, write=False)
        if denied is not None:
            return denied
        with self._lock:
            numbers = list(self._merged.get((owner, repo, sha), []))
        return json_response([{"number": n, "state": "closed", "merge_commit_sha": sha} for n in numbers])

    def check_token(self, request: Request) -> Response | None:
        return self._auth(request, write=False)

    def _issues_on(self, request: Request) -> Response | None:
        if not self.issues_enabled:
            return self.error(410, "Issues are disabled for this repo")
        return None

    def _list_issues(self, request: Request, owner: str, repo: str) -> Response:
        denied = self._auth(request, write=False) or self._issues_on(request)
        if denied is not None:
            return denied
        state = request.args.get("state", "open")
        sort = request.args.get("sort", "created")
        direction = request.args.get("direction", "desc")
        if state not in ("open", "closed", "all") or sort not in ("created", "updated", "comments"):
            return self.error(422, "Validation Failed")
        if direction not in ("asc", "desc"):
            return self.error(422, "Validation Failed")
        wanted = {name.strip() for name in request.args.get("labels", "").split(",") if name.strip()}
        with self._lock:
            found = [
                copy.deepcopy(issue)
                for (o, r, _), issue in self._issues.items()
                if (o, r) == (owner, repo)
                and (state == "all" or issue["state"] == state)
                and wanted <= {label["name"] for label in issue["labels"]}
            ]
        key = "_sequence" if sort != "updated" else "updated_at"
        found.sort(key=lambda issue: (issue[key], issue["_sequence"]), reverse=direction == "desc")
        query = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        base = f"{self.url}/repos/{owner}/{repo}/issues"
        return page([public(issue) for issue in found], request, base, query)

    def _create_issue(self, request: Request, owner: str, repo: str) -> Response:
        denied = self._auth(request, write=True) or self._issues_on(request)
        if denied is not None:
            return denied
        fields = issue_fields(request, creating=True)
        if not isinstance(fields, dict):
            return fields
        issue = self._new_issue(
            owner,
            repo,
            str(fields["title"]),
            str(fields.get("body") or ""),
            fields.get("labels") or [],
            self.login,
        )
        return json_response(public(issue), 201)

    def _get_issue(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=False) or self._issues_on(request)
        if denied is not None:
            return denied
        with self._lock:
            issue = self._issues.get((owner, repo, number))
            if issue is None:
                return self.error(404, "Not Found")
            return json_response(public(copy.deepcopy(issue)))

    def _update_issue(self, request: Request, owner: str, repo: str, number: int) -> Response:
        denied = self._auth(request, write=True) or self._issues_on(request)
        if denied is not None:
            return denied
        fields = issue_fields(request, creating=False)
        if not isinstance(fields, dict):
            return fields
        with self._lock:
            issue = self._issues.get((owner, repo, number))
            if issue is None:
                return self.error(404, "Not Found")
            for key in ("title", "body"):
                if key in fields and fields[key] is not None:
                    issue[key] = str(fields[key])
            if fields.get("labels") is not None:
                issue["labels"] = [{"name": name} for name in dict.fromkeys(fields["labels"])]
            if fields.get("state") is not None and fields["state"] != issue["state"]:
                issue["state"] = fields["state"]
                closed = fields["state"] == "closed"
                issue["closed_at"] = timestamp() if closed else None
                issue["state_reason"] = fields.get("state_reason") or ("completed" if closed else "reopened")
            issue["updated_at"] = timestamp()
            return json_response(public(copy.deepcopy(issue)))

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
