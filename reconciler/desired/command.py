"""`reconciler validate`: check policies/ offline and optionally show the policies it renders.

Runs in pull requests before anything touches AWS, so it must start fast: nothing here (or below it)
imports boto3. A test runs it in a subprocess and checks `sys.modules`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from reconciler.desired.loader import load_policies
from reconciler.desired.model import DesiredState, Registry
from reconciler.errors import Problem, ReconcilerError, ValidationFailed
from reconciler.policy.render import provider_policy, readable_text, render_policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        default="policies",
        metavar="DIR",
        help="directory of policies files (default: policies)",
    )
    parser.add_argument(
        "--show",
        action="store_true",
        help="print each registry's rendered policies: the provider config, one per override and template",
    )


def _count(number: int, noun: str) -> str:
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
    print(f"{_count(len(problems), 'problem')} in {_count(files, 'file')}", file=stream)


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


def load_or_report(directory: str, out: TextIO | None = None) -> DesiredState | None:
    """The desired state, or None after printing why there is none (for commands that exit 1 then).

    `out` receives the problems (default stdout); a command whose stdout is data passes stderr.
    """
    try:
        return load_policies(directory)
    except ValidationFailed as failed:
        report_problems(failed.problems, out)
    except ReconcilerError as error:
        report_error(error, out)
    return None


def show(registry: Registry) -> str:
    """The policies a registry renders: what the provider config gives new repositories, and each override."""
    lines = [
        f"# registry {registry.name}: account {registry.account_id}, {registry.region} ({registry.source})",
        f"# manages repositories matching {', '.join(registry.include)}"
        + (f" except {', '.join(registry.exclude)}" if registry.exclude else ""),
        "# default access (nullplatform provider config; every repository no override matches):",
        readable_text(provider_policy(registry)),
    ]
    for override in registry.overrides:
        lines.append(f"# override at line {override.line}: {', '.join(override.repositories)}")
        lines.append(readable_text(render_policy(registry.account_id, override.pull_access)))
    for template in registry.creation_templates:
        access = "its own access" if template.pull_access else "the default access"
        lines.append(
            f"# creation template {template.prefix} at line {template.line} "
            f"({', '.join(template.applied_for)}): {access}"
        )
        if template.pull_access:
            lines.append(readable_text(render_policy(registry.account_id, template.pull_access)))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    directory = str(args.policies)
    desired = load_or_report(directory)
    if desired is None:
        return 1
    if args.show:
        for registry in desired.registries:
            print(show(registry))
            print()
    count = len(desired.registries)
    registries = f"{count} {'registry' if count == 1 else 'registries'}"
    files = _count(len({r.source for r in desired.registries}), "file")
    print(f"OK: {registries} in {files} under {directory}")
    return 0
