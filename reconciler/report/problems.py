"""Problems in policies files as people and GitHub read them: `path:line:column: message` lines, and
workflow-command annotations under GitHub Actions (shown on the pull request's diff)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from reconciler.errors import Problem, ReconcilerError


def count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command escaping (the message part).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _repository_path(path: str) -> str:
    """GitHub places annotations by path from the repository root; an absolute path would not show up."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isabs(path):
        relative = os.path.relpath(path, workspace)
        if not relative.startswith(".."):
            return relative
    return path


def annotation(problem: Problem, level: str = "error") -> str:
    """A GitHub Actions `::error` (or `::warning`) command: shows the problem on the pull request's diff."""
    return (
        f"::{level} file={_escape_property(_repository_path(problem.path))},line={problem.line},"
        f"col={problem.column}::{_escape_data(problem.message)}"
    )


def report_problems(problems: Sequence[Problem], out: TextIO | None = None) -> None:
    """`path:line:column: message` per problem (plus annotations under GitHub Actions), then a count."""
    stream = out or sys.stdout
    for problem in problems:
        print(problem, file=stream)
    if _in_github_actions():
        for problem in problems:
            print(annotation(problem), file=stream)
    files = len({p.path for p in problems})
    print(f"{count(len(problems), 'problem')} in {count(files, 'file')}", file=stream)


def report_warnings(warnings: Sequence[Problem], out: TextIO | None = None) -> None:
    """`path:line:column: warning: message` per warning (plus `::warning` annotations on Actions)."""
    stream = out or sys.stderr
    for warning in warnings:
        print(f"{warning.path}:{warning.line}:{warning.column}: warning: {warning.message}", file=stream)
    if _in_github_actions():
        for warning in warnings:
            print(annotation(warning, "warning"), file=stream)


def report_error(error: ReconcilerError, out: TextIO | None = None) -> None:
    """A problem that is not in a file (no policies directory, say)."""
    print(f"error: {error}", file=sys.stderr)
    if _in_github_actions():
        print(f"::error::{_escape_data(str(error))}", file=out or sys.stdout)
