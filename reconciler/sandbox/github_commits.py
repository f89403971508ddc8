"""The GitHub double's commits: branches, a commit graph with what each commit changed, and the two routes
the workflows read before a backfill or a self-heal writes (docs/GITHUB_API.md):

- `GET /repos/{owner}/{repo}/commits/{ref}` ("Get a commit"): a branch's head, or a commit by its sha;
  `Accept: application/vnd.github.sha` answers the sha alone, as text; an unknown ref -> 422 "No commit
  found for SHA: <ref>", as GitHub answers;
- `GET /repos/{owner}/{repo}/compare/{base}...{head}` ("Compare two commits"): `status` (`identical`,
  `ahead`: head is a descendant of base, `behind`, `diverged`), `ahead_by`, `behind_by`, `total_commits`,
  `merge_base_commit`, `commits` (head's commits since the merge base, oldest first, the newest
  `MAX_COMMITS` of them, as GitHub answers without paging) and `files`: the net diff from the merge base
  to head (a file changed and changed back is not in it), `filename` and `status` (`added`, `removed`,
  `modified`, `renamed` with `previous_filename`), sorted by name and cut at `MAX_FILES` as GitHub cuts
  it; an unknown commit, or two with no common ancestor -> 404 "Not Found".

Contents are modelled, not stored: a file a commit changes gets a content of its own unless the commit
says what it holds (`add_commit` with a mapping), so a later commit can put back an earlier content. A
file no recorded commit changed holds "what it held at the root", whatever that was; a rename keeps the
content under the new name.
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
# GitHub Docs, REST API "Commits", "Compare two commits": without paging, at most 250 commits (the most
# recent ones); the changed files, at most 300 for the whole comparison.
MAX_COMMITS = 250
MAX_FILES = 300
Tree = dict[str, str | None]  # path -> content (None: no such file); a path not in it: as at the root


class Commits:
    """Branches and commits per repository. A commit not recorded with `add_commit` is known as a branch's
    head or a recorded commit's parent (it has no parent here: a root)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._branches: dict[tuple[str, str, str], str] = {}
        # (owner, repo, sha) -> (parent sha, what it changed: {path: content, None when removed})
        self._commits: dict[tuple[str, str, str], tuple[str, Tree]] = {}

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
        files: Sequence[str] | Mapping[str, str | None],
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        """Commit `sha`, child of `parent`. `files`: the paths it changed (each to a content of its own),
        or {path: content} (None: removed), so a later commit can change one back; `renamed`: {new path:
        old path}, the content moving with it."""
        changed: Tree = dict(files) if isinstance(files, Mapping) else {f: f"{sha}:{f}" for f in files}
        with self._lock:
            before = self._tree(owner, repo, parent)
            for new, old in (renamed or {}).items():
                changed[new] = _content(before, old)
                changed[old] = None
            self._commits[(owner, repo, sha)] = (parent, changed)

    def resolve(self, owner: str, repo: str, ref: str) -> str | None:
        with self._lock:
            heads = {b: sha for (o, r, b), sha in self._branches.items() if (o, r) == (owner, repo)}
            recorded = {
                sha: parent for (o, r, sha), (parent, _) in self._commits.items() if (o, r) == (owner, repo)
            }
            known = set(heads.values()) | set(recorded) | set(recorded.values())
        return heads.get(ref, ref if ref in known else None)

    def _line(self, owner: str, repo: str, sha: str) -> list[str]:
        """`sha` and its ancestors, newest first, down to a root."""
        line = [sha]
        while (owner, repo, line[-1]) in self._commits:
            line.append(self._commits[(owner, repo, line[-1])][0])
        return line

    def _tree(self, owner: str, repo: str, sha: str) -> Tree:
        tree: Tree = {}
        for commit in reversed(self._line(owner, repo, sha)):  # oldest first: later changes win
            tree.update(self._commits.get((owner, repo, commit), ("", {}))[1])
        return tree

    def compare(self, owner: str, repo: str, base_ref: str, head_ref: str) -> dict[str, Any] | None:
        base, head = self.resolve(owner, repo, base_ref), self.resolve(owner, repo, head_ref)
        if base is None or head is None:
            return None
        with self._lock:
            base_line, head_line = self._line(owner, repo, base), self._line(owner, repo, head)
            merge_base = next((sha for sha in head_line if sha in base_line), None)
            if merge_base is None:
                return None
            files = _diff(self._tree(owner, repo, merge_base), self._tree(owner, repo, head))
        ahead = head_line[: head_line.index(merge_base)]
        behind_by = base_line.index(merge_base)
        if base == head:
            status = "identical"
        elif merge_base == base:
            status = "ahead"
        elif merge_base == head:
            status = "behind"
        else:
            status = "diverged"
        return {
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind_by,
            "total_commits": len(ahead),
            "merge_base_commit": {"sha": merge_base},
            "commits": [{"sha": sha} for sha in reversed(ahead)][-MAX_COMMITS:],
            "files": files[:MAX_FILES],
        }


def _content(tree: Tree, path: str) -> str | None:
    return tree.get(path, f"as at the root: {path}")


def _diff(base: Tree, head: Tree) -> list[dict[str, Any]]:
    """What changed from `base` to `head`, as GitHub lists it: a path removed whose content appears under a
    new path is one rename."""
    changed = {p for p in base.keys() | head.keys() if _content(base, p) != _content(head, p)}
    removed = {p for p in changed if _content(head, p) is None}
    entries: dict[str, dict[str, Any]] = {}
    for path in sorted(changed - removed):
        source = next((p for p in sorted(removed) if _content(base, p) == _content(head, path)), None)
        if source is not None:
            removed.discard(source)
            entries[path] = {"filename": path, "status": "renamed", "previous_filename": source}
        else:
            entries[path] = {
                "filename": path,
                "status": "added" if _content(base, path) is None else "modified",
            }
    entries.update({path: {"filename": path, "status": "removed"} for path in removed})
    return [entries[path] for path in sorted(entries)]


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
