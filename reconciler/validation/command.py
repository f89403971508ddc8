"""`reconciler validate`: check policies/ offline and optionally show the policies it renders.

Runs in pull requests before anything touches AWS, so it must start fast: nothing here (or below it)
imports boto3. A test runs it in a subprocess and checks `sys.modules`.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.desired.model import DesiredState, Registry
from reconciler.errors import ReconcilerError, ValidationFailed
from reconciler.policy.render import provider_policy, readable_text, render_policy
from reconciler.report.problems import count, report_error, report_problems
from reconciler.validation.loader import load_policies


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
    number = len(desired.registries)
    registries = f"{number} {'registry' if number == 1 else 'registries'}"
    files = count(len({r.source for r in desired.registries}), "file")
    print(f"OK: {registries} in {files} under {directory}")
    return 0
