"""The GitHub double's commits: branches, a commit graph with the files each commit changed, and the two
routes the workflows read before a backfill or a self-heal writes (docs/GITHUB_API.md):

- `GET /repos/{owner}/{repo}/commits/{ref}` ("Get a commit"): a branch's head, or a commit by its sha;
  `Accept: application/vnd.github.sha` answers the sha alone, as text; an unknown ref -> 422 "No commit
  found for SHA: <ref>", as GitHub answers;
- `GET /repos/{owner}/{repo}/compare/{base}...{head}` ("Compare two commits"): `status` (`identical`,
  `ahead`: head is a descendant of base, `behind`, `diverged`), `ahead_by`, `behind_by`, `total_commits`
  and `files` (`filename`, `status`, and `previous_filename` for a rename) of the commits head has and base
  has not; an unknown commit -> 404 "Not Found".
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.sandbox.rest import json_response

if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from reconciler.sandbox.github import GithubApi

Key = tuple[str, str]  # (owner, repo)


class Commits:
    """Branches and commits per repository. A commit not recorded with `add_commit` is known as a branch's
    head or a recorded commit's parent (it has no parent here)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._branches: dict[tuple[str, str, str], str] = {}
        # (owner, repo, sha) -> (parent sha, files changed: {filename: previous filename or None})
        self._commits: dict[tuple[str, str, str], tuple[str, dict[str, str | None]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._branches.clear()
            self._commits.clear()

    def set_branch(self, owner: str, repo: str, branch: str, sha: str) -> None:
        with self._lock:
            self._branches[(owner, repo, branch)] = sha

    def add_commit(
        self,
        owner: str,
        repo: str,
        sha: str,
        parent: str,
        files: Sequence[str],
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        changed: dict[str, str | None] = dict.fromkeys(files)
        changed.update(renamed or {})
        with self._lock:
            self._commits[(owner, repo, sha)] = (parent, changed)

    def resolve(self, owner: str, repo: str, ref: str) -> str | None:
        with self._lock:
            heads = {b: sha for (o, r, b), sha in self._branches.items() if (o, r) == (owner, repo)}
            recorded = {
                sha: parent for (o, r, sha), (parent, _) in self._commits.items() if (o, r) == (owner, repo)
            }
            known = set(heads.values()) | set(recorded) | set(recorded.values())
        return heads.get(ref, ref if ref in known else None)

    def _since(self, owner: str, repo: str, base: str, head: str) -> list[dict[str, str | None]] | None:
        """The files changed by the commits from `base` (excluded) to `head`, newest first; None when
        `base` is not an ancestor of `head`."""
        changed: list[dict[str, str | None]] = []
        sha: str | None = head
        with self._lock:
            while sha is not None and sha != base:
                commit = self._commits.get((owner, repo, sha))
                if commit is None:
                    return None
                sha, files = commit
                changed.append(files)
        return changed if sha == base else None

    def compare(self, owner: str, repo: str, base_ref: str, head_ref: str) -> dict[str, Any] | None:
        base, head = self.resolve(owner, repo, base_ref), self.resolve(owner, repo, head_ref)
        if base is None or head is None:
            return None
        if base == head:
            return _comparison("identical", 0, 0, [])
        ahead = self._since(owner, repo, base, head)
        if ahead is not None:
            return _comparison("ahead", len(ahead), 0, ahead)
        behind = self._since(owner, repo, head, base)
        if behind is not None:
            return _comparison("behind", 0, len(behind), [])
        return _comparison("diverged", 1, 1, [])


def _comparison(
    status: str, ahead_by: int, behind_by: int, commits: list[dict[str, str | None]]
) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {}
    for changed in reversed(commits):  # oldest first: a later commit's entry for a file wins
        for name, previous in changed.items():
            entry: dict[str, Any] = {"filename": name, "status": "renamed" if previous else "modified"}
            if previous:
                entry["previous_filename"] = previous
            files[name] = entry
    return {
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": ahead_by,
        "files": list(files.values()),
    }


def get_commit(api: GithubApi, request: Request, owner: str, repo: str, ref: str) -> Response:
    from werkzeug.wrappers import Response

    denied = api.check_token(request)
    if denied is not None:
        return denied
    sha = api.commits.resolve(owner, repo, ref)
    if sha is None:
        return api.error(422, f"No commit found for SHA: {ref}")
    if "application/vnd.github.sha" in request.headers.get("Accept", ""):
        return Response(sha, status=200, mimetype="application/vnd.github.sha")
    return json_response({"sha": sha, "url": f"{api.url}/repos/{owner}/{repo}/commits/{sha}", "commit": {}})


def compare_commits(api: GithubApi, request: Request, owner: str, repo: str, basehead: str) -> Response:
    denied = api.check_token(request)
    if denied is not None:
        return denied
    base, dots, head = basehead.partition("...")
    answer = api.commits.compare(owner, repo, base, head) if dots else None
    return json_response(answer) if answer is not None else api.error(404, "Not Found")
